/// A command that could not do its work (a file it cannot read or write, a connection it cannot
/// load, a tool that failed): printed as `Error: …` with exit status 1, without the usage text that
/// a wrong flag gets (`ValidationError`), since the flags were right.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
