import SFNet
import Testing

@Suite("Automatic network size")
struct NetworkSizeTests {
    @Test(arguments: [
        // frame W, H, --scale, model network_scale → network W, H
        (1024, 512, 1.0, 1.0, 1024, 512),
        (1920, 1080, 1.0, 1.0, 1024, 576),     // long side capped at 1024
        (161, 97, 1.0, 1.0, 160, 96),          // small frames are not enlarged; sides round to 32
        (721, 405, 1.0, 1.0, 736, 416),
        (1024, 512, 1.0, 2.0, 2048, 1024),     // frames at 2×, cap 2048
        (1024, 512, 1.0, 1.75, 1792, 896),     // the bundled model
        (1920, 1080, 1.0, 2.0, 2048, 1152),
        (640, 360, 0.5, 2.0, 640, 352),        // --scale multiplies with the model's scale
        (480, 640, 1.0, 1.5, 736, 960),        // portrait: the long side is the height
    ])
    func automatic(_ c: (Int, Int, Double, Double, Int, Int)) {
        let size = NetworkSize.automatic(frameWidth: c.0, frameHeight: c.1, scale: c.2, modelScale: c.3)
        #expect(size == NetworkSize(width: c.4, height: c.5))
    }
}
