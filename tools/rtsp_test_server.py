#!/usr/bin/python3
"""A real RTSP server on loopback for segstream's tests: gst-rtsp-server (Debian's gir1.2-gst-rtsp-server-1.0
through python3-gi) serving an H.264 MP4 or MPEG-TS file at rtsp://127.0.0.1:<port>/clip, in real time.

Usage: rtsp_test_server.py FILE [PORT]   Prints "READY <port>" on stdout once listening; runs until killed. PORT
(default 0: any free one) lets a test restart the server at the same URL.
Run it with Debian's /usr/bin/python3 (the gi bindings are a Debian package, not a pip one).
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    path = sys.argv[1]
    Gst.init(None)
    demux = "tsdemux" if path.endswith(".ts") else "qtdemux"
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f'( filesrc location="{path}" ! {demux} ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )')
    factory.set_shared(True)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(sys.argv[2] if len(sys.argv) > 2 else "0")
    server.get_mount_points().add_factory("/clip", factory)
    if server.attach(None) == 0:
        sys.exit("rtsp_test_server: cannot listen")
    print(f"READY {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
