/// An append-only array kept in fixed-size segments. Growing it never copies the elements into
/// a larger allocation and frees the old one: a single array that doubles leaves each freed
/// half as a hole in the heap that the next, larger one does not fit, so a push of 10 GiB in
/// 100,000 files held its chunk index about twice over (issue 12: memory flat as the folder
/// grows). The last segment is the only one that grows, up to `segmentLength` elements.
struct SegmentedArray<Element>: RandomAccessCollection {
    /// 8,192 elements: under half a MiB for a chunk-index record, so a small index stays small.
    static var segmentShift: Int { 13 }
    static var segmentLength: Int { 1 << segmentShift }

    private var segments: [[Element]] = []
    private(set) var count = 0

    init() {}

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    /// Out of range traps, as an array's subscript does (the segment's own bounds check).
    subscript(position: Int) -> Element {
        segments[position >> Self.segmentShift][position & (Self.segmentLength - 1)]
    }

    mutating func append(_ element: Element) {
        if count & (Self.segmentLength - 1) == 0 {
            var segment = [Element]()
            segment.reserveCapacity(Self.segmentLength)
            segments.append(segment)
        }
        segments[segments.count - 1].append(element)
        count += 1
    }
}

extension SegmentedArray: Sendable where Element: Sendable {}
