import Testing
@testable import SegServe

@Suite("ServeConfig: the http key (#13)")
struct HTTPListenTests {
    @Test("HOST:PORT, [V6]:PORT and off parse; anything else is one problem")
    func addresses() throws {
        #expect(try HTTPListen.parse("127.0.0.1:9400").get() == HTTPListen(host: "127.0.0.1", port: 9400))
        #expect(try HTTPListen.parse("0.0.0.0:0").get() == HTTPListen(host: "0.0.0.0", port: 0))
        #expect(try HTTPListen.parse("localhost:80").get() == HTTPListen(host: "localhost", port: 80))
        #expect(try HTTPListen.parse("[::1]:9400").get() == HTTPListen(host: "::1", port: 9400))
        #expect(try HTTPListen.parse("[::1]:9400").get()?.description == "[::1]:9400")
        #expect(try HTTPListen.parse("off").get() == nil)
        for bad in ["9400", "localhost", ":9400", "host:", "host:65536", "host:-1", "host:http", "a b:1", "[::1:1]"] {
            guard case .failure(let error) = HTTPListen.parse(bad) else {
                Issue.record("\(bad) parsed")
                continue
            }
            #expect(error.description == "\"\(bad)\": expected HOST:PORT (e.g. 127.0.0.1:9400), [IPV6]:PORT or off")
        }
    }

    @Test("absent: loopback on 9400; set: that address; off: none; malformed: a problem with its line")
    func key() throws {
        let sources = "sources: {a: /srv/a.mp4}\n"
        #expect(try parse(sources).http == HTTPListen(host: "127.0.0.1", port: 9400))
        #expect(try parse("http: 0.0.0.0:8080\n" + sources).http == HTTPListen(host: "0.0.0.0", port: 8080))
        #expect(try parse("http: off\n" + sources).http == nil)
        #expect(problems(sources + "http: 9400\n") == [
            "test.yaml:2: http: \"9400\": expected HOST:PORT (e.g. 127.0.0.1:9400), [IPV6]:PORT or off",
        ])
    }
}
