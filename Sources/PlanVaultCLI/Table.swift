/// A plain-text table whose columns are as wide as their widest cell, so a long host name or
/// label never shifts the columns after it. The last column is not padded.
struct Table {
    let headers: [String]
    /// Columns aligned to the right (numbers, sizes).
    var rightAligned: Set<Int> = []
    private(set) var rows: [[String]] = []

    init(_ headers: [String], rightAligned: Set<Int> = []) {
        self.headers = headers
        self.rightAligned = rightAligned
    }

    mutating func add(_ cells: [String]) {
        rows.append(cells)
    }

    /// The header and every row, each a line without a trailing newline.
    func lines(separator: String = "  ") -> [String] {
        let all = [headers] + rows
        let columns = all.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in all {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        return all.map { row in
            var parts = [String]()
            for (i, cell) in row.enumerated() {
                let last = i == row.count - 1
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                if rightAligned.contains(i) {
                    parts.append(pad + cell)
                } else {
                    parts.append(last ? cell : cell + pad)
                }
            }
            var line = parts.joined(separator: separator)
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }

    func print() {
        for line in lines() { Output.line(line) }
    }
}
