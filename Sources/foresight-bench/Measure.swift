import CMalloc
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Wall time and peak resident memory of a child process, read from `wait4`'s rusage.
struct ChildMeasurement {
    var seconds: Double
    var peakRSSKiB: Int
    var status: Int32
}

/// Runs `argv` with its output sent to `stdoutPath` (default /dev/null) and measures it.
func measureChild(_ argv: [String], environment: [String: String], stdoutPath: String = "/dev/null") throws -> ChildMeasurement {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    let out = open(stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    defer { close(out) }
    posix_spawn_file_actions_adddup2(&actions, out, 1)
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
    let start = DispatchTime.now().uptimeNanoseconds
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, argv[0], &actions, nil, cArgs, cEnv)
    guard rc == 0 else { throw BenchError("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return ChildMeasurement(seconds: seconds, peakRSSKiB: Int(usage.ru_maxrss), status: (status >> 8) & 0xff)
}

/// This process's peak resident memory so far, KiB.
func selfPeakRSSKiB() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Int(usage.ru_maxrss)
}

/// Bytes the allocator has handed out and not got back (glibc's mallinfo2): blocks from the heap
/// (`uordblks`) and blocks it mmapped on their own (`hblkhd`, for large allocations such as a big
/// dictionary's table, which `uordblks` alone misses).
func heapBytesInUse() -> Int {
    let info = mallinfo2()
    return Int(info.uordblks) + Int(info.hblkhd)
}

/// This process's resident memory now, bytes (from /proc/self/statm).
func currentRSSBytes() -> Int {
    let fields = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
    return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func machineDescription() -> String {
    let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
        .split(separator: "\n").first { $0.hasPrefix("model name") }?
        .split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    let memKiB = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?
        .split(separator: "\n").first?.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    return "\(ProcessInfo.processInfo.activeProcessorCount) cores (\(cpu)), \(memKiB / 1024 / 1024) GiB"
}
