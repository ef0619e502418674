#!/usr/bin/env python3
# Writes ONNX's own backend node test cases for the ai.onnx operators mlrepo claims into
# Tests/Fixtures/onnx/conformance/<case>/ in ONNX's test-data layout:
#   model.onnx, test_data_set_0/input_N.pb, test_data_set_0/output_N.pb (TensorProto)
# Pinned: onnx==1.23.2 (requirements: pip install onnx==1.23.2 numpy). Re-run from the
# repository root:  python3 Tests/Fixtures/onnx/make_conformance.py
# A case is written when every node of its graph is an ai.onnx operator in CLAIMED, every
# input and output is a tensor of a type mlrepo stores (float, double, int8..int64,
# uint8..uint64, bool, string), and its files stay under MAX_CASE_BYTES. EXCLUDED lists
# cases left out on purpose, each with its reason; docs/onnx-conformance.md repeats them.
import os, shutil, sys, warnings
warnings.filterwarnings("ignore")
import onnx
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases

assert onnx.__version__ == "1.23.2", f"pinned to onnx 1.23.2, found {onnx.__version__}"

CLAIMED = sorted("""
Abs Add And ArgMax ArgMin Cast CastLike Ceil Clip Concat Constant ConstantOfShape Div Dropout
Elu Equal Erf Exp Expand Flatten Floor Gather Gelu Gemm Greater GreaterOrEqual Identity IsInf IsNaN
LeakyRelu Less LessOrEqual Log LogSoftmax MatMul Max Mean Min Mul Neg Not Or Pow Range
Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd
ReduceSum ReduceSumSquare Relu Reshape Shape Sigmoid Sign Size Slice Softmax Softplus Split Sqrt
Squeeze Sub Sum Tanh Tile TopK Transpose Unsqueeze Where Xor
""".split())

# Element types mlrepo stores (TensorProto.DataType): float16, bfloat16, complex and the
# float8/4-bit types are not run.
TYPES = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13}
MAX_CASE_BYTES = 16 * 1024

# ai.onnx versions mlrepo runs (ONNXOperators.opsetRange); cases made for later versions
# (onnx 1.23.2 writes some at 26 to 28) are refused at load, as any such model is.
OPSET_MAX = 25

EXCLUDED = {
    # Dropout in training mode with a ratio above 0 drops at random (numpy's generator in
    # the reference); mlrepo runs inference only and refuses it with one line.
    "test_training_dropout": "training-mode Dropout is random; mlrepo runs inference only",
    "test_training_dropout_default": "training-mode Dropout is random; mlrepo runs inference only",
    "test_training_dropout_default_mask": "training-mode Dropout is random; mlrepo runs inference only",
    "test_training_dropout_mask": "training-mode Dropout is random; mlrepo runs inference only",
}

def value_ok(vi):
    t = vi.type
    return t.HasField("tensor_type") and t.tensor_type.elem_type in TYPES

def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conformance")
    if os.path.isdir(root):
        shutil.rmtree(root)
    os.makedirs(root)
    written, skipped = 0, {}
    cases = sorted(collect_testcases(None), key=lambda c: c.name)
    single = {c.name: c.model.graph.node[0].op_type for c in cases if len(c.model.graph.node) == 1}
    index = []
    for case in cases:
        def skip(why):
            skipped[why] = skipped.get(why, 0) + 1
        m = case.model
        ops = {(n.domain, n.op_type) for n in m.graph.node}
        if any(d not in ("", "ai.onnx") for d, _ in ops):
            skip("other domain"); continue
        if any(o not in CLAIMED for _, o in ops):
            skip("operator not claimed"); continue
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in m.graph.node for a in n.attribute):
            skip("subgraph"); continue
        if not all(value_ok(v) for v in list(m.graph.input) + list(m.graph.output)):
            skip("element type not stored (float16, bfloat16, float8, 4-bit, complex) or not a tensor"); continue
        opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 0)
        if opset > OPSET_MAX:
            skip(f"ai.onnx opset above {OPSET_MAX}, outside the versions mlrepo runs"); continue
        if case.name in EXCLUDED:
            skip("excluded: " + EXCLUDED[case.name]); continue
        if len(case.data_sets) != 1:
            skip("data sets != 1"); continue
        inputs, outputs = case.data_sets[0]
        blobs = []
        ok = True
        for kind, arrays, infos in (("input", inputs, m.graph.input), ("output", outputs, m.graph.output)):
            for i, (a, vi) in enumerate(zip(arrays, infos)):
                try:
                    t = numpy_helper.from_array(a, vi.name)
                except Exception:
                    ok = False; break
                if t.data_type != vi.type.tensor_type.elem_type:
                    ok = False; break
                blobs.append((f"{kind}_{i}.pb", t.SerializeToString()))
        if not ok:
            skip("data not a plain tensor"); continue
        mb = m.SerializeToString()
        if len(mb) + sum(len(b) for _, b in blobs) > MAX_CASE_BYTES:
            skip(f"over {MAX_CASE_BYTES // 1024} KiB of data"); continue
        d = os.path.join(root, case.name)
        os.makedirs(os.path.join(d, "test_data_set_0"))
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(mb)
        for name, b in blobs:
            with open(os.path.join(d, "test_data_set_0", name), "wb") as f:
                f.write(b)
        # The operator under test: the node's, or for a function expanded into several nodes
        # (test_x_expanded…), the operator of the unexpanded case.
        base = case.name.split("_expanded")[0]
        op = single.get(case.name) or single.get(base) or "(multi-node)"
        index.append(f"{case.name}\t{op}\t{opset}\t{len(inputs)}\t{len(outputs)}\t{case.rtol!r}\t{case.atol!r}\n")
        written += 1
    with open(os.path.join(root, "cases.tsv"), "w") as f:
        f.write("# case\toperator\topset\tinputs\toutputs\trtol\tatol (written by make_conformance.py)\n")
        f.writelines(index)
    print(f"written {written} cases")
    for why, n in sorted(skipped.items()):
        print(f"skipped {n}: {why}")

if __name__ == "__main__":
    main()
