import Foundation
import Testing
import UpdatePlanning

func utc(_ s: String) -> Date {
    let f = ISO8601DateFormatter()
    return f.date(from: s)!
}

@Suite struct CronScheduleTests {
    let berlin = TimeZone(identifier: "Europe/Berlin")!

    @Test func fieldsListsRangesStepsAndNames() throws {
        let c = try CronSchedule("*/15 1-3,22 * JAN-MAR,DEC mon-fri")
        #expect(c.minutes == [0, 15, 30, 45])
        #expect(c.hours == [1, 2, 3, 22])
        #expect(c.months == [1, 2, 3, 12])
        #expect(c.daysOfWeek == [1, 2, 3, 4, 5])
        #expect(try CronSchedule("0 0 * * 7").daysOfWeek == [0], "7 is Sunday")
        #expect(try CronSchedule("5/20 * * * *").minutes == [5, 25, 45])
    }

    @Test func malformedExpressionsAreNamed() {
        for (e, fragment) in [("0 1 * *", "five"), ("61 * * * *", "minute \"61\""), ("0 0 * * FUNDAY", "day-of-week"), ("0 0 5-1 * *", "backwards"),
                              ("*/0 * * * *", "positive"), ("0 0 1,,2 * *", "empty")] {
            do {
                _ = try CronSchedule(e)
                Issue.record("\(e) must be refused")
            } catch let error as CronSchedule.ParseError {
                #expect(error.problem.contains(fragment), "\(e): \(error.problem)")
            } catch {
                Issue.record("\(e): \(error)")
            }
        }
    }

    @Test func nextInAZoneWithDaylightSaving() throws {
        let sunday1am = try CronSchedule("0 1 * * SUN")
        // Saturday 2026-03-28 12:00 UTC → Sunday 29 March 01:00 CET (UTC+1; DST starts at 02:00 that night).
        #expect(sunday1am.next(after: utc("2026-03-28T12:00:00Z"), in: berlin) == utc("2026-03-29T00:00:00Z"))
        // The next Sunday is in CEST (UTC+2).
        #expect(sunday1am.next(after: utc("2026-03-29T00:00:00Z"), in: berlin) == utc("2026-04-04T23:00:00Z"))
    }

    @Test func aTimeSkippedBySpringForwardDoesNotFireThatDay() throws {
        let at230 = try CronSchedule("30 2 * * *")
        // 29 March 2026 has no 02:30 in Berlin: the next firing is 30 March 02:30 CEST.
        #expect(at230.next(after: utc("2026-03-28T02:00:00Z"), in: berlin) == utc("2026-03-30T00:30:00Z"))
    }

    @Test func aTimeRepeatedByFallBackFiresOnce() throws {
        let at230 = try CronSchedule("30 2 * * *")
        // 25 October 2026: 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET).
        let first = at230.next(after: utc("2026-10-24T12:00:00Z"), in: berlin)!
        #expect(first == utc("2026-10-25T00:30:00Z"))
        #expect(at230.next(after: first, in: berlin) == utc("2026-10-26T01:30:00Z"), "not again at 01:30 UTC the same night")
    }

    @Test func dayOfMonthOrDayOfWeekWhenBothAreGiven() throws {
        let c = try CronSchedule("0 0 13 * FRI")
        let tz = TimeZone(identifier: "UTC")!
        // After Thu 2026-11-12: Fri 13 Nov matches both; then Fri 20 Nov (a Friday), then 27, then Sun 13 Dec is a 13th.
        var t = utc("2026-11-12T00:00:00Z")
        var fired: [Date] = []
        for _ in 0..<5 { t = c.next(after: t, in: tz)!; fired.append(t) }
        #expect(fired == ["2026-11-13", "2026-11-20", "2026-11-27", "2026-12-04", "2026-12-11"].map { utc("\($0)T00:00:00Z") })
        #expect(c.next(after: utc("2026-12-11T00:00:00Z"), in: tz) == utc("2026-12-13T00:00:00Z"), "a Sunday the 13th fires through day-of-month")
        #expect(try CronSchedule("0 0 31 2 *").next(after: utc("2026-01-01T00:00:00Z"), in: tz) == nil, "31 February never comes")
    }
}

@Suite struct WindowScheduleTests {
    /// The occurrences over a span: the one already open at its start, then each that starts before its end.
    @Test func occurrencesOverASpan() throws {
        let weekly = WindowSchedule.recurring(try CronSchedule("0 10 * * 2"), timeZone: TimeZone(identifier: "UTC")!, duration: 6 * 3600)
        let spans = weekly.occurrences(from: utc("2026-12-01T12:00:00Z"), to: utc("2026-12-22T10:00:00Z"))
        #expect(spans.map(\.start) == [utc("2026-12-01T10:00:00Z"), utc("2026-12-08T10:00:00Z"), utc("2026-12-15T10:00:00Z")],
                "open at the start counts; one starting exactly at the end does not")
        let once = WindowSchedule.once(start: utc("2026-12-01T01:00:00Z"), duration: 3600)
        #expect(once.occurrences(from: utc("2026-11-30T00:00:00Z"), to: utc("2026-12-31T00:00:00Z")).count == 1)
        #expect(once.occurrences(from: utc("2026-12-01T02:00:00Z"), to: utc("2026-12-31T00:00:00Z")).isEmpty)
    }

    @Test func aOneOffWindowOpensClosesAndExpires() {
        let w = WindowSchedule.once(start: utc("2026-12-01T01:00:00Z"), duration: 4 * 3600)
        #expect(w.current(at: utc("2026-12-01T00:59:59Z")) == nil)
        #expect(w.next(after: utc("2026-12-01T00:00:00Z"))?.start == utc("2026-12-01T01:00:00Z"))
        #expect(w.current(at: utc("2026-12-01T03:00:00Z"))?.end == utc("2026-12-01T05:00:00Z"))
        #expect(w.current(at: utc("2026-12-01T05:00:00Z")) == nil, "the end is not inside")
        #expect(w.hasExpired(at: utc("2026-12-01T05:00:00Z")) && !w.hasExpired(at: utc("2026-12-01T04:59:00Z")))
        #expect(w.next(after: utc("2026-12-01T02:00:00Z")) == nil)
    }

    @Test func aRecurringWindowIsOpenForItsDurationAfterEachOccurrence() throws {
        let w = WindowSchedule.recurring(try CronSchedule("0 1 * * SUN"), timeZone: TimeZone(identifier: "UTC")!, duration: 3 * 3600)
        #expect(w.current(at: utc("2026-11-29T00:59:00Z")) == nil)
        #expect(w.current(at: utc("2026-11-29T01:00:00Z"))?.start == utc("2026-11-29T01:00:00Z"))
        #expect(w.current(at: utc("2026-11-29T03:59:59Z")) != nil)
        #expect(w.current(at: utc("2026-11-29T04:00:00Z")) == nil)
        #expect(w.next(after: utc("2026-11-29T02:00:00Z"))?.start == utc("2026-12-06T01:00:00Z"))
        #expect(!w.hasExpired(at: utc("2030-01-01T00:00:00Z")))
    }
}
