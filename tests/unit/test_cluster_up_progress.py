"""`cluster up` says how far the start has got while it waits, on a terminal only."""

import io

from mini_kafka.cli.cluster import ProgressLine


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_one_line_redrawn_while_it_changes_and_erased_at_the_end():
    term = Terminal()
    line = ProgressLine(term)
    line({"coordinator": (0, 3), "broker": (0, 40)})
    line({"coordinator": (0, 3), "broker": (0, 40)})  # the same: not drawn again
    line({"coordinator": (3, 3), "broker": (17, 40)})
    line.erase()
    assert term.getvalue() == ("\r\x1b[Kwaiting: 0 of 3 coordinators, 0 of 40 brokers ready"
                               "\r\x1b[Kwaiting: 3 of 3 coordinators, 17 of 40 brokers ready"
                               "\r\x1b[K")


def test_progress_writes_nothing_where_no_terminal_shows_it():
    piped = io.StringIO()
    line = ProgressLine(piped)
    line({"coordinator": (1, 1), "broker": (0, 2)})
    line.erase()
    assert piped.getvalue() == ""
