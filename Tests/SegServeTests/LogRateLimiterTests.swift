import Testing
@testable import SegServe

@Suite("LogRateLimiter: a repeated error logs `burst` times per interval, then says how many it left out")
struct LogRateLimiterTests {
    @Test("burst, suppression, and the count in the next window")
    func window() {
        var limiter = LogRateLimiter(interval: .seconds(10), burst: 2)
        let at = (0..<6).map { t0 + .seconds($0) }
        #expect(at.map { limiter.check("front/decode", at: $0) }
                == [.log(suppressedBefore: 0), .log(suppressedBefore: 0), .suppress, .suppress, .suppress, .suppress])
        #expect(limiter.check("front/decode", at: t0 + .seconds(10)) == .log(suppressedBefore: 4))
        #expect(limiter.check("front/decode", at: t0 + .seconds(11)) == .log(suppressedBefore: 0))
        #expect(limiter.check("front/decode", at: t0 + .seconds(12)) == .suppress)
        #expect(limiter.check("front/decode", at: t0 + .seconds(25)) == .log(suppressedBefore: 1))
    }

    @Test("keys are independent")
    func keys() {
        var limiter = LogRateLimiter(interval: .seconds(10), burst: 1)
        #expect(limiter.check("a", at: t0) == .log(suppressedBefore: 0))
        #expect(limiter.check("a", at: t0) == .suppress)
        #expect(limiter.check("b", at: t0) == .log(suppressedBefore: 0))
    }
}
