/// The live status page at `/` (docs/http.md, "Status page"): one tile per source with its latest annotated frame
/// (`/api/sources/NAME/snapshot.jpg`, fetched again as soon as the previous one arrived, at least every second),
/// its state, rate, latency, drops and reconnects, and the class legend of its model. Everything inline: the
/// machine may be offline. Read-only; text goes into the page through `textContent`, never as HTML.
enum StatusPage {
    static let html = """
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>segstream</title>
    <style>
    body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #111; color: #ddd; }
    header { padding: 8px 16px; background: #222; display: flex; gap: 16px; align-items: baseline; }
    header h1 { font-size: 18px; margin: 0; }
    #tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; padding: 12px; }
    .tile { background: #1c1c1c; border: 1px solid #333; border-radius: 6px; overflow: hidden; }
    .tile h2 { font-size: 15px; margin: 0; padding: 6px 10px; display: flex; justify-content: space-between; }
    .state { font-weight: normal; padding: 0 6px; border-radius: 4px; }
    .state.running { background: #1d5e2a; } .state.connecting { background: #6b5b16; }
    .state.backing { background: #7a2e1c; } .state.stopped { background: #444; }
    .tile img { display: block; width: 100%; background: #000; aspect-ratio: 16 / 9; object-fit: contain; }
    .stats { display: grid; grid-template-columns: repeat(3, 1fr); gap: 2px 8px; padding: 6px 10px; font-size: 13px; }
    .stats b { color: #fff; font-weight: 600; }
    .url, .error { padding: 0 10px 6px; font-size: 12px; color: #999; word-break: break-all; }
    .error { color: #e88; }
    .legend { display: flex; flex-wrap: wrap; gap: 4px 10px; padding: 6px 10px 10px; font-size: 12px; }
    .legend span { display: inline-flex; align-items: center; gap: 4px; }
    .legend i { width: 12px; height: 12px; display: inline-block; border-radius: 2px; }
    </style>
    </head>
    <body>
    <header><h1>segstream</h1><span id="summary">loading…</span></header>
    <main id="tiles"></main>
    <script>
    "use strict";
    const tiles = new Map();
    function el(tag, cls, text) {
      const e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined) e.textContent = text;
      return e;
    }
    function fmt(v, digits, unit) { return v === null || v === undefined ? "–" : v.toFixed(digits) + unit; }
    function makeTile(src) {
      const t = el("section", "tile");
      t.dataset.source = src.name;
      const h = el("h2"); const name = el("span", "", src.name); const state = el("span", "state");
      h.append(name, state);
      const img = el("img"); img.alt = src.name;
      const stats = el("div", "stats"); const url = el("div", "url"); const error = el("div", "error");
      const legend = el("div", "legend");
      t.append(h, img, stats, url, error, legend);
      document.getElementById("tiles").append(t);
      const tile = { t, state, img, stats, url, error, legend, legendKey: "", loading: false, last: 0 };
      // The next snapshot is asked for as soon as the previous one is shown, at most every 500 ms.
      const next = () => {
        tile.loading = false;
        setTimeout(() => refreshImage(tile, src.name), Math.max(0, 500 - (Date.now() - tile.last)));
      };
      img.onload = next; img.onerror = next;
      return tile;
    }
    function refreshImage(tile, name) {
      if (tile.loading || !tiles.has(name)) return;
      tile.loading = true; tile.last = Date.now();
      tile.img.src = "/api/sources/" + encodeURIComponent(name) + "/snapshot.jpg?t=" + tile.last;
    }
    function update(src, tile) {
      tile.state.textContent = src.state;
      tile.state.className = "state " + src.state.split(" ")[0];
      tile.stats.replaceChildren();
      const drops = Object.values(src.dropped).reduce((a, b) => a + b, 0);
      const rows = [["fps", fmt(src.fps, 1, "")], ["latency", fmt(src.latency_ms, 0, " ms")],
        ["drops", String(drops)], ["reconnects", String(src.reconnects)],
        ["last frame", fmt(src.last_frame_age_s, 1, " s ago")],
        ["size", src.width ? src.width + "×" + src.height : "–"]];
      for (const [k, v] of rows) { const d = el("div", "", k + " "); d.append(el("b", "", v)); tile.stats.append(d); }
      tile.url.textContent = src.url;
      tile.error.textContent = src.state === "running" || !src.last_error ? "" : src.last_error;
      const key = src.classes.map(c => c.name + c.color).join();
      if (key !== tile.legendKey) {
        tile.legendKey = key; tile.legend.replaceChildren();
        for (const c of src.classes) {
          const s = el("span"); const sw = el("i"); sw.style.background = c.color;
          s.append(sw, document.createTextNode(c.name)); tile.legend.append(s);
        }
      }
    }
    async function poll() {
      try {
        const r = await fetch("/api/sources", { cache: "no-store" });
        const doc = await r.json();
        const seen = new Set();
        for (const src of doc.sources) {
          seen.add(src.name);
          if (!tiles.has(src.name)) {
            const tile = makeTile(src);
            tiles.set(src.name, tile);
            refreshImage(tile, src.name);
          }
          update(src, tiles.get(src.name));
        }
        for (const [name, tile] of tiles) if (!seen.has(name)) { tile.t.remove(); tiles.delete(name); }
        const up = doc.sources.filter(s => s.state === "running").length;
        document.getElementById("summary").textContent =
          up + " of " + doc.sources.length + " sources running" + (doc.ready ? "" : " · not ready");
      } catch (e) {
        document.getElementById("summary").textContent = "no answer from the daemon";
      }
      setTimeout(poll, 1000);
    }
    poll();
    </script>
    </body>
    </html>
    """
}
