import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import Support

/// The one calendar (Support/Time.swift).
final class TimeTests: XCTestCase {
    func testCivilTimeAgreesWithGmtime() {
        var rng = SplitMix64(seed: 14)
        var samples: [Int64] = [0, -1, 86399, 86400, 951_782_400 /* 2000-02-29 */, 4_107_542_400, -62_135_596_800]
        for _ in 0..<5000 { samples.append(Int64(rng.next(below: 8_000_000_000)) - 2_000_000_000) }
        for t in samples {
            var secs = time_t(t)
            var tmv = tm()
            gmtime_r(&secs, &tmv)
            let c = CivilTime(unixSeconds: t)
            XCTAssertEqual([c.year, c.month, c.day, c.hour, c.minute, c.second],
                           [Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1, Int(tmv.tm_mday), Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec)], "t=\(t)")
            XCTAssertEqual(c.unixSeconds, t)
            XCTAssertEqual(c.weekday, Int(tmv.tm_wday), "t=\(t)")
            XCTAssertEqual(c.unixSeconds, Int64(timegm(&tmv)))
        }
    }

    /// Moved from MLTests (lineage times), assertions unchanged.
    func testISOTimeRoundTrips() {
        XCTAssertEqual(ISOTime.format(1_700_000_000), "2023-11-14T22:13:20Z")
        XCTAssertEqual(ISOTime.format(1_700_000_000.5), "2023-11-14T22:13:20.500Z")
        XCTAssertEqual(ISOTime.parse("2023-11-14T22:13:20.500Z"), 1_700_000_000.5)
        XCTAssertEqual(ISOTime.parse("2023-11-14T22:13:20Z"), 1_700_000_000)
        XCTAssertNil(ISOTime.parse("yesterday"))
    }

    func testISOFormsAndRoundTrip() {
        XCTAssertEqual(ISOTime.format(0), "1970-01-01T00:00:00Z")
        XCTAssertEqual(ISOTime.format(1_763_863_441.123), "2025-11-23T02:04:01.123Z")
        XCTAssertEqual(ISOTime.format(1_763_863_441.9996), "2025-11-23T02:04:02Z")     // rounds up into the next second
        XCTAssertEqual(ISOTime.format(1_763_863_441.5, fraction: .never), "2025-11-23T02:04:01Z")
        XCTAssertEqual(ISOTime.format(1_763_863_441, fraction: .milliseconds), "2025-11-23T02:04:01.000Z")
        XCTAssertEqual(ISOTime.format(seconds: 1_763_863_441, milliseconds: 7), "2025-11-23T02:04:01.007Z")
        XCTAssertEqual(ISOTime.parse("2025-11-23T02:04:01.123Z"), 1_763_863_441 + 123.0 / 1000)
        XCTAssertEqual(ISOTime.parse("2025-11-23T02:04:01Z"), 1_763_863_441)
        XCTAssertEqual(ISOTime.parse("2026-11-23T06:18:29.000Z"), 1_795_414_709)          // S3's LastModified form
        XCTAssertEqual(ISOTime.parse("2025-11-23T02:04:01"), 1_763_863_441)
        for bad in ["", "2025-11-23", "2025-11-23 02:04:01Z", "2025-11-23T02:04:0xZ", "2025-11-23T02:04:01.Z", "2025-11-23T02:04:01.1a2Z", "+025-11-23T02:04:01Z"] {
            XCTAssertNil(ISOTime.parse(bad), bad)
        }
        var rng = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            let t = Double(rng.next(below: 4_000_000_000)) + Double(rng.next(below: 1000)) / 1000
            XCTAssertEqual(ISOTime.parse(ISOTime.format(t))!, t, accuracy: 0.0005)
        }
        XCTAssertNotNil(ISOTime.parse(ISOTime.now()))
    }
}
