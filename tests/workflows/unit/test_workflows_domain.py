"""workflows's domain rules, without a database or a network."""

from services.runtime.errors import Violations
from services.workflows import domain


def _problems(name: str) -> list[str]:
    v = Violations()
    domain.check_display_name(v, domain.clean_display_name(name), "item.display_name")
    return [f"{i.field}: {i.description}" for i in v.items]


def test_a_display_name_is_cleaned_of_extra_whitespace():
    assert domain.clean_display_name("  Week   one \t quiz ") == "Week one quiz"


def test_a_display_name_is_required_bounded_and_printable():
    assert _problems("Week one") == []
    assert _problems("x" * domain.MAX_DISPLAY_NAME) == []
    assert _problems("   ") == ["item.display_name: is required"]
    assert _problems("x" * (domain.MAX_DISPLAY_NAME + 1)) == [
        f"item.display_name: must be at most {domain.MAX_DISPLAY_NAME} characters"
    ]
    assert _problems("bell\x07") == ["item.display_name: must not contain control characters"]
