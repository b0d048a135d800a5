import Testing
@testable import SegServe

@Suite("Redaction: credentials never reach a log line")
struct RedactionTests {
    @Test("URLs", arguments: [
        ("rtsp://user:pass@host/stream", "rtsp://user:***@host/stream"),
        ("rtsp://user:pass@host:554", "rtsp://user:***@host:554"),
        ("rtsp://TOKEN@host/s", "rtsp://***@host/s"),  // a lone userinfo may be a token
        ("rtsp://admin:p/a@ss@host/s", "rtsp://admin:***@host/s"),  // unescaped / and @ in the password
        ("https://h/live.m3u8?password=x&quality=hd", "https://h/live.m3u8?password=***&quality=hd"),
        ("https://h/p?access_token=abc&Signature=def&x=1#frag", "https://h/p?access_token=***&Signature=***&x=1#frag"),
        ("http://h/p?user=bob&pwd=1&apikey=2&auth=3", "http://h/p?user=bob&pwd=***&apikey=***&auth=***"),
        ("http://u:p@h/p?session=9", "http://u:***@h/p?session=***"),
        ("http://host/path/a@b/x", "http://host/path/a@b/x"),  // an @ in the path is not a userinfo
        ("rtsp://host/stream", "rtsp://host/stream"),
        ("udp://@239.0.0.1:1234", "udp://@239.0.0.1:1234"),  // an empty userinfo: nothing to hide
        ("rtsp://:pw@h/", "rtsp://:***@h/"),
        ("/dev/video0", "/dev/video0"),
        ("/data/clip.mp4", "/data/clip.mp4"),
        ("http://h/p?flag&token=", "http://h/p?flag&token=***"),
    ])
    func url(input: String, expected: String) {
        #expect(Redaction.redact(url: input) == expected)
    }

    @Test("every URL in free text is redacted, the rest of the text kept")
    func text() {
        let line = "source front (rtsp://admin:hunter2@cam/s) failed; retrying \"http://h/x?token=abc\" and rtsp://ok/s."
        #expect(Redaction.redactURLs(in: line)
                == "source front (rtsp://admin:***@cam/s) failed; retrying \"http://h/x?token=***\" and rtsp://ok/s.")
        #expect(Redaction.redactURLs(in: "no urls here: a://") == "no urls here: a://")
        #expect(Redaction.redactURLs(in: "://u:p@h") == "://u:p@h")  // no scheme: not a URL
        #expect(Redaction.redactURLs(in: "a=rtsp://u:p@h b=https://v:q@g") == "a=rtsp://u:***@h b=https://v:***@g")
    }
}
