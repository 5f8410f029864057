"""RefusalBook: when a refused registration is due again, and when a refusal is news."""

from __future__ import annotations

from registrator.refusals import RefusalBook


def test_for_good_backs_off_doubling_to_the_cap_and_is_news_once() -> None:
    book = RefusalBook(base=2, cap=10)
    assert book.refused("s", "fp", "400 bad", for_good=True, now=0) is True
    assert not book.due("s", "fp", 1.9) and book.due("s", "fp", 2)
    assert book.refused("s", "fp", "400 bad", for_good=True, now=2) is False
    assert not book.due("s", "fp", 5.9) and book.due("s", "fp", 6)  # 4 s
    book.refused("s", "fp", "400 bad", for_good=True, now=6)  # 8 s
    book.refused("s", "fp", "400 bad", for_good=True, now=14)  # 16 s, capped at 10
    assert not book.due("s", "fp", 23.9) and book.due("s", "fp", 24)


def test_a_changed_definition_or_reason_is_due_at_once_and_news_again() -> None:
    book = RefusalBook(base=2, cap=10)
    book.refused("s", "fp", "400 bad", for_good=True, now=0)
    assert book.due("s", "other-fp", 0.1)
    assert book.refused("s", "other-fp", "400 bad", for_good=True, now=0.1) is True
    assert book.refused("s", "other-fp", "400 worse", for_good=True, now=3) is True


def test_passing_refusals_are_due_at_once_and_always_news() -> None:
    book = RefusalBook(base=2, cap=10)
    assert book.refused("s", "fp", "403", for_good=False, now=0) is True
    assert book.due("s", "fp", 0) and "s" in book
    assert book.refused("s", "fp", "403", for_good=False, now=0) is True


def test_accepted_and_forget() -> None:
    book = RefusalBook(base=2, cap=10)
    assert book.accepted("s") is False
    book.refused("s", "fp", "400", for_good=True, now=0)
    assert book.accepted("s") is True and "s" not in book and book.due("s", "fp", 0)
    book.refused("s", "fp", "400", for_good=True, now=0)
    book.forget("s")
    assert "s" not in book
