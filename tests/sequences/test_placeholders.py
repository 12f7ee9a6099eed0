import pytest
from django.core.exceptions import ValidationError

from apps.sequences.placeholders import render_placeholders, validate_placeholders

VALUES = {
    "first_name": "Grace",
    "last_name": "Hopper",
    "full_name": "Grace Hopper",
    "sender_first_name": "Rob",
}


def test_known_placeholders_are_replaced_with_plain_values():
    text = "Hi {{first_name}} {{ last_name }} ({{  full_name  }}), {{ sender_first_name }}"
    validate_placeholders(text)
    assert render_placeholders(text, VALUES) == "Hi Grace Hopper (Grace Hopper), Rob"


def test_values_are_not_interpreted():
    values = {**VALUES, "first_name": "{{ last_name }} {% debug %}"}
    assert render_placeholders("Hi {{ first_name }}", values) == "Hi {{ last_name }} {% debug %}"


@pytest.mark.parametrize(
    "text",
    [
        "Hi {{ salary }}",
        "Hi {{ first_name|upper }}",
        "{% load static %}",
        "{{ first_name.__class__ }}",
        "Hi {{ first_name",
        "Hi }}",
    ],
)
def test_anything_else_is_refused_at_save_time(text):
    with pytest.raises(ValidationError):
        validate_placeholders(text)


def test_plain_braces_in_text_are_fine():
    validate_placeholders("Our stack: {python, django} and a {single} brace.")
