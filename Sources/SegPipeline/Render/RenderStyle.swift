import Foundation

/// How segmentation is shown: `segstream run --visualize overlay|mask|side-by-side`.
public enum VisualizationMode: String, Sendable, CaseIterable {
    /// The frame blended with the class colours: out = (1 − α)·image + α·colour.
    case overlay
    /// Class colours only; hidden classes and unknown ids are black.
    case mask
    /// The untouched frame on the left, the overlay on the right: twice the frame's width.
    case sideBySide = "side-by-side"
}

/// What the renderer draws on top of the segmentation, and how. Plain value, fixed for a run.
public struct RenderStyle: Sendable, Equatable {
    /// Which classes the legend lists.
    public enum LegendContent: String, Sendable, CaseIterable {
        /// Shown classes that occur in the current frame.
        case present
        /// Every shown class, whether or not it occurs.
        case all
    }

    public var mode: VisualizationMode
    /// Opacity of the class colours in overlay and side-by-side modes, 0…1 (`--alpha`, default 0.5).
    public var alpha: Double
    /// `visibleClasses[c]` says whether class `c` is drawn (`--classes`); classes past the end of the array
    /// are hidden; nil shows every class. Hidden classes are the plain image in overlay, black in mask.
    public var visibleClasses: [Bool]?
    public var showLegend: Bool
    public var legendContent: LegendContent
    public var showHUD: Bool
    /// Integer magnification of the 5×9 font (1 = 10-pixel lines); nil derives it from the frame height.
    public var textScale: Int?

    public init(
        mode: VisualizationMode = .overlay, alpha: Double = 0.5, visibleClasses: [Bool]? = nil,
        showLegend: Bool = true, legendContent: LegendContent = .present, showHUD: Bool = true, textScale: Int? = nil
    ) {
        self.mode = mode
        self.alpha = alpha
        self.visibleClasses = visibleClasses
        self.showLegend = showLegend
        self.legendContent = legendContent
        self.showHUD = showHUD
        self.textScale = textScale
    }

    /// One font pixel per 270 frame rows, rounded, at least 1: 180p → 1, 480p → 2, 720p → 3, 1080p → 4.
    public static func defaultTextScale(frameHeight: Int) -> Int {
        max(1, (frameHeight + 135) / 270)
    }

    /// The font magnification used for frames `frameHeight` rows tall.
    public func resolvedTextScale(frameHeight: Int) -> Int {
        max(1, textScale ?? Self.defaultTextScale(frameHeight: frameHeight))
    }

    /// The blend weight w = round(α·256) in 0…256 that the C kernels use (see CSegKernels.h, "render").
    public var blendWeight: Int {
        Int((min(max(alpha, 0), 1) * 256).rounded())
    }

    public func isVisible(_ classID: Int) -> Bool {
        guard let visibleClasses else { return true }
        return classID >= 0 && classID < visibleClasses.count && visibleClasses[classID]
    }

    public enum SelectionError: Error, Equatable, CustomStringConvertible {
        case unknownClass(String)
        public var description: String {
            switch self {
            case .unknownClass(let name): return "unknown class '\(name)'"
            }
        }
    }

    /// `visibleClasses` for a `--classes` list: each entry is a class name (case-insensitive, `_` or `-`
    /// matching a space, so `traffic_light` works) or a numeric class id.
    public static func visibility(selecting selection: [String], classNames: [String]) throws -> [Bool] {
        func normal(_ s: String) -> String {
            String(s.lowercased().map { $0 == "_" || $0 == "-" ? " " : $0 })
                .trimmingCharacters(in: .whitespaces)
        }
        var visible = [Bool](repeating: false, count: classNames.count)
        let names = classNames.map(normal)
        for item in selection {
            let key = normal(item)
            if let i = names.firstIndex(of: key) {
                visible[i] = true
            } else if let id = Int(key), id >= 0, id < classNames.count {
                visible[id] = true
            } else {
                throw SelectionError.unknownClass(item)
            }
        }
        return visible
    }
}
