import Foundation
import XCTest

/// One CSV read two ways: `mlrepo predict --data FILE` and `POST /invocations` with
/// `Content-Type: text/csv` to `mlrepo serve` parse the same bytes with the same code, so the
/// predictions are identical, value for value, and a bad cell is rejected by both.
final class CLICSVConsistencyTests: CLITestCase {
    var server: Spawned? = nil

    override func tearDownWithError() throws {
        if let s = server { kill(s.pid, SIGKILL); var st: Int32 = 0; waitpid(s.pid, &st, 0) }
        server = nil
        try super.tearDownWithError()
    }

    /// Quoted header names and cells, doubled quotes, exponents, signs, leading and trailing
    /// spaces, a number with more digits than a Double holds, CRLF line ends, an empty label
    /// cell (the label column is ignored when scoring), no line end after the last record.
    static let scoringCSV = "\"a\",b,\"c\",y\r\n"
        + "1.5,-2.25e1,\"3\",first\r\n"
        + "\"-0.000123456789012345678901\",+4.5E-3,1e2,\r\n"
        + "  7 ,\"8.0000000000000000001\",-9.99e-1,\"x, with a comma\"\r\n"
        + "3.14159265358979323846264338327950288,-0,.5,\"say \"\"hi\"\"\"\r\n"
        + "1.,0e5,123456789012345678,\"two\r\nlines\"\r\n"
        + "\t-1.17549435e-38\t,2.5E+1,\" 6 \",z"

    func testPredictAndServeReadTheSameCSVTheSameWay() throws {
        ok("init")
        var train = "a,b,c,y\n"
        for i in 0..<60 {
            let a = Double(i % 7) - 3, b = Double(i % 5) * 1.5, c = Double((i * 13) % 11) / 4
            train += "\(a),\(b),\(c),\(2 * a - b + 0.5 * c + Double(i % 3) / 10)\n"
        }
        write("train.csv", train)
        write("mlrepo.json", """
        {"stages": {"fit": {"train": {"model": "linear_regression", "data": "train.csv", "label": "y"}, "outs": ["m.mlmodel"]}}}
        """)
        ok("repro")
        write("score.csv", Self.scoringCSV)

        let cli = ok("predict", "m.mlmodel", "--data", "score.csv").split(separator: "\n").map(String.init)
        XCTAssertEqual(cli.first, "prediction")
        XCTAssertEqual(cli.count, 7)

        let port = try startServer(["m.mlmodel"])
        let (status, body) = try post(port, Self.scoringCSV)
        XCTAssertEqual(status, 200, body)
        // The numbers as text (both print the shortest text that reads back as the same Double;
        // Foundation's JSON reader does not round correctly, so compare before reading them).
        XCTAssertTrue(body.hasPrefix("{\"predictions\":[") && body.hasSuffix("]}"), body)
        let served = body.dropFirst("{\"predictions\":[".count).dropLast(2).split(separator: ",").map(String.init)
        XCTAssertEqual(served, Array(cli.dropFirst()), "serve \(body) vs predict \(cli)")

        // A missing feature value and a cell that is not a number: both refuse, naming the line.
        for (bad, reason) in [("a,b,c\n1,2,3\n4,,6\n", "line 3, column 'b': missing value"),
                              ("a,b,c\n1,2,3\n4,0x10,6\n", "line 3, column 'b': '0x10' is not a number")] {
            write("bad.csv", bad)
            let r = fails(1, "predict", "m.mlmodel", "--data", "bad.csv")
            XCTAssertTrue(r.err.contains(reason), r.err)
            let (s, b) = try post(port, bad)
            XCTAssertEqual(s, 400, b)
            XCTAssertTrue(b.contains(reason), b)
        }
    }

    // MARK: Helpers

    func startServer(_ args: [String]) throws -> Int {
        let s = try start(["serve", "--port", "0"] + args)
        server = s
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let err = (try? String(contentsOf: s.errURL, encoding: .utf8)) ?? ""
            if let r = err.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression),
               let port = Int(err[r].split(separator: ":").last ?? "") {
                return port
            }
            var st: Int32 = 0
            if waitpid(s.pid, &st, WNOHANG) == s.pid { server = nil; throw NSError(domain: "serve exited early: \(err)", code: 1) }
            usleep(20_000)
        }
        throw NSError(domain: "serve did not start", code: 2)
    }

    /// POST /invocations with a text/csv body over a fresh connection; the status and body.
    func post(_ port: Int, _ csv: String) throws -> (Int, String) {
        let fd = openSocket(port)
        guard fd >= 0 else { throw NSError(domain: "connect", code: Int(errno)) }
        defer { close(fd) }
        let body = Array(csv.utf8)
        sendAll(fd, Array("POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8) + body)
        guard let reply = readReply(fd) else { throw NSError(domain: "no reply", code: 3) }
        return (reply.status, reply.body)
    }
}
