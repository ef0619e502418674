/// The web app's only assets, compiled into the binary: one stylesheet and one script,
/// served under /assets/ with a version in the name so a browser may cache them for good.
/// Nothing is fetched from anywhere else (no CDN, no web fonts).
public enum Assets {
    public static let version = "1"
    public static let cssPath = "/assets/mlrepo-\(version).css"
    public static let jsPath = "/assets/mlrepo-\(version).js"

    public static let css = """
    :root{--fg:#1d2330;--muted:#5b6475;--bg:#fff;--panel:#f6f7f9;--line:#dde1e7;--accent:#2458c6;--good:#1a7f37;--bad:#c62828}
    *{box-sizing:border-box}
    body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
    a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
    .bar{display:flex;align-items:center;gap:18px;padding:8px 18px;background:#1d2330;color:#fff}
    .bar a{color:#d8deea}.bar a.active{color:#fff;font-weight:600;border-bottom:2px solid #7aa2ff}
    .bar .brand{font-weight:700;color:#fff;font-size:16px}.bar .repo{color:#9aa6bd;font-family:ui-monospace,monospace}
    .bar nav{display:flex;gap:14px;flex-wrap:wrap}
    main{padding:16px 20px;max-width:1600px}
    h1{font-size:20px;margin:4px 0 12px}h2{font-size:16px;margin:20px 0 8px}
    table{border-collapse:collapse;font-size:13px}
    th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top;white-space:nowrap}
    th{background:var(--panel);position:sticky;top:0;font-weight:600}
    td.num,th.num,#experiments td[data-v]{text-align:right;font-variant-numeric:tabular-nums}
    tr:hover td{background:#f0f4ff}
    .scroll{overflow:auto;max-height:75vh;border:1px solid var(--line)}
    code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px}
    pre{background:var(--panel);padding:10px;overflow:auto;border:1px solid var(--line);font-size:12.5px}
    form.controls{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:center;margin:8px 0 12px;padding:8px;background:var(--panel);border:1px solid var(--line)}
    input[type=text],select{padding:3px 6px;border:1px solid #b9c0cc;border-radius:3px;font:inherit}
    button{padding:3px 10px;font:inherit;cursor:pointer}
    .muted{color:var(--muted)}.error{color:var(--bad)}.up{color:var(--good)}.down{color:var(--bad)}
    .pager{margin:10px 0;display:flex;gap:12px;align-items:center}
    .charts{display:flex;flex-wrap:wrap;gap:16px}
    .chart{border:1px solid var(--line);background:#fff;padding:6px}
    .chart svg{display:block}
    .legend{font-size:12px}
    .kv td:first-child{color:var(--muted)}
    .tag{display:inline-block;padding:0 6px;border-radius:8px;background:#e7ecf7;font-size:12px;margin-right:4px}
    .cards{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid var(--line);padding:10px 12px;min-width:180px;background:var(--panel)}
    .card .big{font-size:22px;font-weight:600}
    svg text{font-family:system-ui,"DejaVu Sans",sans-serif}
    td.wrap{white-space:normal;max-width:40em;overflow-wrap:anywhere}
    .crumbs{margin:4px 0 10px}
    pre.file{max-height:75vh}
    img.preview{max-width:100%}
    .chart.lineage{overflow:auto;max-width:100%}
    g.node:hover rect{stroke:#2458c6;stroke-width:2}
    .tag.tip{background:#d6e4ff;font-weight:600}
    th a.sort{color:var(--muted);font-weight:400;padding-left:2px}th a.sort:hover{color:var(--accent)}
    tr.changed td:first-child{font-weight:600}td.diff{background:#fff6d6}
    .delta{font-size:11.5px;margin-left:4px}
    details.cols,form.controls details{position:relative}
    .colpick{display:flex;flex-direction:column;max-height:320px;overflow:auto;padding:6px 8px;background:#fff;border:1px solid var(--line);margin-top:4px}
    .colpick label{white-space:nowrap}
    .pick-form p{margin:4px 0}
    table.files td{white-space:normal}tr.added td.mono{color:var(--good)}tr.deleted td.mono{color:var(--bad)}
    h3{font-size:14px;margin:14px 0 6px}
    """

    public static let js = """
    "use strict";
    // mlrepo ui: sorting tables in place, selecting rows to compare. The pages work without it.
    (function(){
      function cellValue(td){var v=td.getAttribute("data-v");if(v===null)v=td.textContent;var n=parseFloat(v);return isNaN(n)||!/^\\s*-?[0-9.eE+-]+\\s*$/.test(v)?{s:v}:{n:n};}
      function sortBy(table,col,th){
        var body=table.tBodies[0];if(!body)return;
        var asc=th.getAttribute("data-dir")!=="asc";
        Array.prototype.forEach.call(table.tHead.rows[0].cells,function(c){c.removeAttribute("data-dir");});
        th.setAttribute("data-dir",asc?"asc":"desc");
        var rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(a,b){
          var x=cellValue(a.cells[col]||a),y=cellValue(b.cells[col]||b);
          if(x.n!==undefined&&y.n!==undefined)return asc?x.n-y.n:y.n-x.n;
          if(x.n!==undefined)return -1;if(y.n!==undefined)return 1;
          return asc?String(x.s).localeCompare(y.s):String(y.s).localeCompare(x.s);
        });
        rows.forEach(function(r){body.appendChild(r);});
      }
      document.addEventListener("click",function(e){
        if(e.target.closest&&e.target.closest("th a"))return;
        var th=e.target.closest&&e.target.closest("table.sortable th");
        if(th&&!th.classList.contains("nosort")){sortBy(th.closest("table"),th.cellIndex,th);}
      });
      // Every column ticked: send none (the page's default is all), so a wide table's form
      // stays within the server's limit on query parameters.
      document.addEventListener("submit",function(e){
        var f=e.target;if(!f.matches||!f.matches("#experiments-form"))return;
        var boxes=f.querySelectorAll("input[name=cols]");
        var all=Array.prototype.every.call(boxes,function(b){return b.checked;});
        if(all)Array.prototype.forEach.call(boxes,function(b){b.disabled=true;});
      });
      document.addEventListener("change",function(e){
        if(!e.target.matches||!e.target.matches("input.pick"))return;
        var picked=Array.prototype.map.call(document.querySelectorAll("input.pick:checked"),function(i){return i.value;});
        var a=document.getElementById("compare-link");if(!a)return;
        a.href="/compare?"+picked.map(function(v){return "c="+encodeURIComponent(v);}).join("&");
        a.textContent="Compare "+picked.length+" selected";
        a.style.visibility=picked.length>=2?"visible":"hidden";
      });
    })();
    """
}
