#if canImport(Glibc)
import Glibc
#endif
import ML
import Store
import Support

public let toolVersion = mlrepoVersion

/// A usage mistake: exit code 2 with the command's usage line.
struct UsageError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// A user-facing failure that is not a store error (exit 1).
struct UserError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Parsed arguments of one command.
struct Args {
    var flags: Set<String> = []
    var options: [String: [String]] = [:]
    var positional: [String] = []
    /// Arguments after `--`.
    var paths: [String]? = nil

    func has(_ f: String) -> Bool { flags.contains(f) }
    func value(_ o: String) -> String? { options[o]?.last }
    func values(_ o: String) -> [String] { options[o] ?? [] }

    func int(_ o: String) throws -> Int? {
        guard let v = value(o) else { return nil }
        guard let n = Int(v), n >= 0 else { throw UsageError(message: "--\(o) takes a non-negative number, not '\(v)'") }
        return n
    }
}

/// One subcommand: its help text, its flags, and what it does.
struct Command: Sendable {
    enum Kind: String { case porcelain, plumbing }
    let name: String
    let kind: Kind
    let summary: String
    let usage: String
    /// Boolean flags: canonical name → spellings ("-f", "--force").
    var flags: [String: [String]] = [:]
    /// Options taking a value: canonical name → spellings.
    var options: [String: [String]] = [:]
    let run: @Sendable (Args, Context) throws -> Int32

    func parse(_ argv: [String]) throws -> Args {
        var a = Args()
        var i = 0
        var spell: [String: (String, Bool)] = [:]
        for (k, ss) in flags { for s in ss { spell[s] = (k, false) } }
        for (k, ss) in options { for s in ss { spell[s] = (k, true) } }
        while i < argv.count {
            let arg = argv[i]
            if arg == "--" { a.paths = Array(argv[(i + 1)...]); break }
            if arg.hasPrefix("-") && arg.count > 1 && !isNumber(arg) {
                var name = arg
                var inline: String? = nil
                if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                    name = String(arg[..<eq]); inline = String(arg[arg.index(after: eq)...])
                } else if !arg.hasPrefix("--"), arg.count > 2, spell[arg] == nil {
                    // -n5 style
                    let short = String(arg.prefix(2))
                    if let (_, takes) = spell[short], takes { name = short; inline = String(arg.dropFirst(2)) }
                }
                if spell[name] == nil, inline == nil, !arg.hasPrefix("--"), arg.count > 2 {
                    // Bundled short flags: -qm MSG, -rf.
                    let letters = arg.dropFirst().map { "-" + String($0) }
                    if letters.allSatisfy({ spell[$0] != nil }),
                       letters.dropLast().allSatisfy({ spell[$0]!.1 == false }) {
                        var expanded = letters
                        expanded.append(contentsOf: argv[(i + 1)...])
                        let sub = try parse(expanded)
                        a.flags.formUnion(sub.flags)
                        a.options.merge(sub.options) { $0 + $1 }
                        a.positional += sub.positional
                        if let p = sub.paths { a.paths = p }
                        return a
                    }
                }
                guard let (key, takes) = spell[name] else {
                    throw UsageError(message: "unknown option '\(arg)' for '\(self.name)'")
                }
                if takes {
                    if let inline { a.options[key, default: []].append(inline) }
                    else {
                        guard i + 1 < argv.count else { throw UsageError(message: "option '\(name)' needs a value") }
                        a.options[key, default: []].append(argv[i + 1]); i += 1
                    }
                } else {
                    if inline != nil { throw UsageError(message: "option '\(name)' takes no value") }
                    a.flags.insert(key)
                }
            } else {
                a.positional.append(arg)
            }
            i += 1
        }
        return a
    }

    private func isNumber(_ s: String) -> Bool { Int(s) != nil }
}

/// Every subcommand, in help order.
let commands: [Command] = [
    initCommand, addCommand, rmCommand, statusCommand, commitCommand, logCommand, showCommand,
    diffCommand, checkoutCommand, switchCommand, branchCommand, mergeCommand, tagCommand, fsckCommand, gcCommand,
    duCommand, configCommand, reflogCommand, resetCommand,
    runCommand, reproCommand, paramsCommand, metricsCommand, expCommand, lineageCommand, profileCommand,
    trainCommand, evalCommand, predictCommand, doctorCommand, serveCommand, uiCommand, plotsCommand, monitorCommand, remoteCommand, pushCommand, fetchCommand, pullCommand, cloneCommand, promoteCommand, registryCommand, modelCommand,
    revParseCommand, hashObjectCommand, catObjectCommand, lsTreeCommand, mergeFileCommand,
]

/// What commands need from the environment.
final class Context {
    let cwd: String
    let out = Output.stdout
    let err = Output.stderr
    private var repo: Repository?

    init(cwd: String) { self.cwd = cwd }

    func repository() throws -> Repository {
        if let repo { return repo }
        let r = try Repository.discover(from: cwd, settings: Settings.store)
        repo = r
        return r
    }

    /// Repo-relative form of a user path.
    func rel(_ p: String) throws -> String { try repository().relativePath(p, cwd: cwd) }
}

extension Context {
    func ml() throws -> MLRepo { MLRepo(try repository()) }

    /// `ml()` for the commands that run built-in stages (`run`, `repro`): they find CUDA where
    /// the environment says (`Settings.gpu`; the other commands never look).
    func mlRunningStages() throws -> MLRepo {
        let m = try ml()
        m.runOptions.gpu = Settings.gpu
        return m
    }
}

/// Entry point: runs argv (without the program name) and returns the exit status.
public func runCLI(_ argv: [String]) -> Int32 {
    signal(SIGPIPE, SIG_IGN)
    installSigbusHandler()
    observeLazyFetches()
    var args = argv
    var cwd = FS.currentDirectory()
    while let first = args.first, first == "-C" {
        guard args.count >= 2 else { return usageFail("option '-C' needs a directory", nil) }
        let d = args[1]
        cwd = d.hasPrefix("/") ? d : Path.join(cwd, d)
        guard FS.isDirectory(cwd) else { Output.stderr.line("error: cannot change to '\(d)': no such directory"); Output.stderr.flush(); return 1 }
        args.removeFirst(2)
    }
    guard let name = args.first else {
        Output.stdout.write(mainHelp()); Output.stdout.flush(); return 2
    }
    if name == "--version" || name == "version" { Output.stdout.line("mlrepo \(toolVersion)"); Output.stdout.flush(); return 0 }
    if name == "--help" || name == "-h" || name == "help" {
        if args.count > 1, let c = commands.first(where: { $0.name == args[1] }) {
            Output.stdout.write(helpText(c))
        } else { Output.stdout.write(mainHelp()) }
        Output.stdout.flush()
        return 0
    }
    guard let cmd = commands.first(where: { $0.name == name }) else {
        return usageFail("'\(name)' is not an mlrepo command; see 'mlrepo --help'", nil)
    }
    let rest = Array(args.dropFirst())
    if rest.contains("--help") || rest.first == "-h" {
        Output.stdout.write(helpText(cmd)); Output.stdout.flush(); return 0
    }
    let ctx = Context(cwd: cwd)
    Settings.store.keepTransientsUntilExit = true
    let code: Int32
    defer { reportLazyFetches() }
    do {
        let parsed = try cmd.parse(rest)
        code = try cmd.run(parsed, ctx)
    } catch let e as UsageError {
        Output.stdout.flush()
        return usageFail(e.message, cmd)
    } catch {
        Output.stdout.flush()
        Output.stderr.line("error: " + Quote.controls("\(error)"))
        Output.stderr.flush()
        return 1
    }
    Output.stdout.flush()
    Output.stderr.flush()
    return code
}

func usageFail(_ msg: String, _ cmd: Command?) -> Int32 {
    Output.stderr.line("error: " + Quote.controls(msg))
    if let cmd { Output.stderr.line("usage: " + cmd.usage.split(separator: "\n").first.map(String.init)!) }
    Output.stderr.flush()
    return 2
}

func helpText(_ c: Command) -> String {
    var s = "mlrepo \(c.name) — \(c.summary) [\(c.kind.rawValue)]\n\nusage: "
    s += c.usage.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n") + "\n"
    return s
}

func mainHelp() -> String {
    var s = """
    mlrepo \(toolVersion) — versioning for datasets, models and experiments

    usage: mlrepo [-C DIR] COMMAND [ARGS]

    """
    for kind in [Command.Kind.porcelain, .plumbing] {
        s += "\n\(kind == .porcelain ? "Commands" : "Plumbing (stable machine output)"):\n"
        for c in commands where c.kind == kind {
            s += "  " + c.name.padding(13) + " " + c.summary + "\n"
        }
    }
    s += "\nRun 'mlrepo COMMAND --help' for a command's options.\n"
    return s
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
