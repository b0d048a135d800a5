import Foundation

/// A log–log chart written as a self-contained SVG document (no scripts, fonts or external assets), for the
/// charts of `segstream profile --sweep`: readable in any browser, diffable as text.
///
/// Every data point is one `<circle class="point">` with a `<title>` tooltip; lines, ceilings, axes and the
/// legend use other elements, so a reader (or a test) can count the measured points.
struct SVGChart {
    struct Point {
        var x: Double
        var y: Double
        /// Tooltip text.
        var label: String
    }

    /// Measured points of one kind (a precision, a thread count), drawn in one colour.
    struct Series {
        var name: String
        var color: String
        var points: [Point]
        /// Joins the points in x order with a line (a trend); false: a scatter.
        var connected: Bool
        /// A dashed line (a second measurement of the same kind, e.g. the whole pipeline beside the network).
        var dashed = false
    }

    /// A reference line (a roofline ceiling): a polyline in data coordinates, dashed, named in the legend.
    struct Guide {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    var guides: [Guide] = []
    /// Labelled x ticks (e.g. the measured sizes); nil: decades with 2 and 5 between.
    var xTicks: [(value: Double, label: String)]?

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

    private let width = 800.0, height = 480.0
    private let left = 80.0, right = 200.0, top = 44.0, bottom = 64.0

    /// The SVG document. Data must be positive (log axes); non-positive values are left out of the range and
    /// of the drawing, never clamped into view.
    func render() -> String {
        let xs = series.flatMap { $0.points.map(\.x) } + (xTicks?.map(\.value) ?? [])
        let ys = series.flatMap { $0.points.map(\.y) }
        let (x0, x1) = Self.logRange(xs.filter { $0 > 0 })
        // A ceiling's top widens the range when it is near the data (within 20×); its low end never does.
        let ceilings = guides.compactMap { $0.points.map(\.y).max() }.filter { $0 > 0 && $0 <= 20 * (ys.max() ?? 0) }
        let (y0, y1) = Self.logRange(ys.filter { $0 > 0 } + ceilings)
        let plotW = width - left - right, plotH = height - top - bottom
        func px(_ x: Double) -> Double { left + (log10(x) - log10(x0)) / (log10(x1) - log10(x0)) * plotW }
        func py(_ y: Double) -> Double { top + plotH - (log10(y) - log10(y0)) / (log10(y1) - log10(y0)) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var out: [String] = []
        out.append("""
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            """)
        out.append("<title>\(Self.escape(title))</title>")
        out.append("<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"white\"/>")
        out.append("<text x=\"\(f(width / 2))\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(Self.escape(title))</text>")

        // Grid and ticks.
        let xTickList = xTicks ?? Self.logTicks(x0, x1).map { ($0, Self.tickLabel($0)) }
        for (value, label) in xTickList where value >= x0 && value <= x1 {
            let x = px(value)
            out.append("<line class=\"grid\" x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(top + plotH))\" stroke=\"#e4e4e4\"/>")
            out.append("<line x1=\"\(f(x))\" y1=\"\(f(top + plotH))\" x2=\"\(f(x))\" y2=\"\(f(top + plotH + 5))\" stroke=\"black\"/>")
            out.append("<text x=\"\(f(x))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\">\(Self.escape(label))</text>")
        }
        for value in Self.logTicks(y0, y1) {
            let y = py(value)
            out.append("<line class=\"grid\" x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y))\" stroke=\"#e4e4e4\"/>")
            out.append("<line x1=\"\(f(left - 5))\" y1=\"\(f(y))\" x2=\"\(f(left))\" y2=\"\(f(y))\" stroke=\"black\"/>")
            out.append("<text x=\"\(f(left - 8))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(Self.escape(Self.tickLabel(value)))</text>")
        }
        out.append("<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"black\"/>")
        out.append("<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 16))\" text-anchor=\"middle\">\(Self.escape(xLabel)) (log scale)</text>")
        out.append("<text x=\"18\" y=\"\(f(top + plotH / 2))\" text-anchor=\"middle\" "
                   + "transform=\"rotate(-90 18 \(f(top + plotH / 2)))\">\(Self.escape(yLabel)) (log scale)</text>")

        // Everything in data coordinates is clipped to the plot area.
        out.append("<defs><clipPath id=\"plot\"><rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\"/></clipPath></defs>")
        out.append("<g clip-path=\"url(#plot)\">")
        for guide in guides {
            let points = guide.points.filter { $0.x > 0 && $0.y > 0 }.map { "\(f(px($0.x))),\(f(py($0.y)))" }
            out.append("<polyline class=\"ceiling\" points=\"\(points.joined(separator: " "))\" fill=\"none\" "
                       + "stroke=\"\(guide.color)\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>")
        }
        for s in series where s.connected {
            let points = s.points.filter { $0.x > 0 && $0.y > 0 }.sorted { $0.x < $1.x }
            guard points.count > 1 else { continue }
            out.append("<polyline class=\"trend\" points=\"\(points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " "))\" "
                       + "fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"3 3\"" : "")/>")
        }
        for s in series {
            for p in s.points where p.x > 0 && p.y > 0 {
                out.append("<circle class=\"point\" cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"4\" fill=\"\(s.color)\" "
                           + "fill-opacity=\"0.8\" stroke=\"white\"><title>\(Self.escape(p.label))</title></circle>")
            }
        }
        out.append("</g>")

        // Legend, right of the plot.
        var ly = top + 8
        let lx = left + plotW + 16
        for s in series {
            if s.dashed {
                out.append("<line class=\"legend-mark\" x1=\"\(f(lx))\" y1=\"\(f(ly))\" x2=\"\(f(lx + 14))\" y2=\"\(f(ly))\" "
                           + "stroke=\"\(s.color)\" stroke-width=\"2\" stroke-dasharray=\"3 3\"/>")
            } else {
                out.append("<rect class=\"legend-mark\" x=\"\(f(lx))\" y=\"\(f(ly - 5))\" width=\"14\" height=\"10\" fill=\"\(s.color)\"/>")
            }
            out.append("<text x=\"\(f(lx + 20))\" y=\"\(f(ly + 4))\">\(Self.escape(s.name))</text>")
            ly += 20
        }
        for g in guides {
            out.append("<line class=\"legend-mark\" x1=\"\(f(lx))\" y1=\"\(f(ly))\" x2=\"\(f(lx + 14))\" y2=\"\(f(ly))\" "
                       + "stroke=\"\(g.color)\" stroke-width=\"1.5\" stroke-dasharray=\"4 2\"/>")
            out.append("<text x=\"\(f(lx + 20))\" y=\"\(f(ly + 4))\">\(Self.escape(g.name))</text>")
            ly += 20
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    /// Whole decades around the values, or one decade around a single value.
    static func logRange(_ values: [Double]) -> (Double, Double) {
        guard let lo = values.min(), let hi = values.max() else { return (1, 10) }
        var a = pow(10, floor(log10(lo))), b = pow(10, ceil(log10(hi)))
        if a == b { a /= 10; b *= 10 }
        return (a, b)
    }

    /// 1, 2, 5 in each decade from `lo` to `hi`; only the decades when the range spans more than three.
    static func logTicks(_ lo: Double, _ hi: Double) -> [Double] {
        let decades = Int(round(log10(hi) - log10(lo)))
        let steps: [Double] = decades > 3 ? [1] : [1, 2, 5]
        var ticks: [Double] = []
        var decade = lo
        while decade <= hi * 1.0001 {
            for s in steps where s * decade <= hi * 1.0001 { ticks.append(s * decade) }
            decade *= 10
        }
        return ticks
    }

    static func tickLabel(_ v: Double) -> String {
        if v >= 1e6 { return String(format: "%gM", v / 1e6) }
        if v >= 1e3 { return String(format: "%gk", v / 1e3) }
        return String(format: "%g", v)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
