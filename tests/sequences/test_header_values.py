"""Names and subject templates go into email headers, so a line break or another control character
is refused where they are entered: the recruiter pages, the services behind them (model
validation) and the support console's admin forms. Each case also shows a clean value passes."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.urls import reverse

from apps.core.text import CONTROL_CHARACTERS_MESSAGE, header_safe, validate_no_control_characters
from apps.sequences.models import Prospect, Sequence, SequenceStep
from apps.sequences.services import prospect_create, sequence_create, sequence_step_create
from tests.fixtures.messaging import three_step_sequence

pytestmark = pytest.mark.django_db

INJECTED = "Grace\r\nBcc: spy@evil.example"
BAD_VALUES = [
    INJECTED,
    "Grace\nHopper",
    "Grace\rHopper",
    "Grace\tHopper",
    "Grace\x00",
    "Grace\x85Hopper",  # NEL
    "Grace\u2028Hopper",  # Unicode line separator
]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_the_validator_refuses_control_characters(value):
    with pytest.raises(ValidationError) as caught:
        validate_no_control_characters(value)
    assert caught.value.messages == [CONTROL_CHARACTERS_MESSAGE]


@pytest.mark.parametrize("value", ["Grace Hopper", "Zoë O'Brien-Łukasz", "李小龙", ""])
def test_the_validator_accepts_ordinary_names(value):
    validate_no_control_characters(value)


def test_rendering_turns_each_run_of_control_characters_into_one_space():
    assert header_safe(INJECTED) == "Grace Bcc: spy@evil.example"
    assert header_safe(" Re:\u2028 Hi\r\n\r\n there\t") == "Re: Hi there"
    assert header_safe(None) == ""


def _errors(response, field):
    return response.context["form"].errors.get(field, [])


def test_the_prospect_form_refuses_a_name_with_a_line_break(client, world):
    client.force_login(world.owner)
    url = reverse("sequences:prospect-list")
    for field in ("first_name", "last_name"):
        data = {"first_name": "Ada", "last_name": "Lovelace", field: INJECTED}
        response = client.post(url, data)
        assert response.status_code == 200
        assert _errors(response, field) == [CONTROL_CHARACTERS_MESSAGE]
        assert "control characters are not allowed here" in response.content.decode()
    assert not Prospect.objects.filter(first_name__startswith="Ada").exists()
    assert not Prospect.objects.exclude(pk=world.prospect.pk).exists()
    assert client.post(url, {"first_name": "Ada", "last_name": "Lovelace"}).status_code == 302
    assert Prospect.objects.filter(first_name="Ada").exists()


def test_the_sequence_forms_refuse_a_name_with_a_line_break(client, world):
    client.force_login(world.owner)
    response = client.post(reverse("sequences:sequence-list"), {"name": "Backend\r\nBcc: x@y.z"})
    assert response.status_code == 400
    assert _errors(response, "name") == [CONTROL_CHARACTERS_MESSAGE]
    assert not Sequence.objects.exists()

    sequence = three_step_sequence(team=world.team, owner=world.owner)
    url = reverse("sequences:sequence-edit", args=[sequence.pk])
    response = client.post(url, {"name": "Renamed\nBcc: x@y.z", "is_active": "on"})
    assert response.status_code == 400
    assert response.context["settings_form"].errors["name"] == [CONTROL_CHARACTERS_MESSAGE]
    sequence.refresh_from_db()
    assert sequence.name == "Backend engineers"


def test_the_step_form_refuses_a_subject_template_with_a_line_break(client, world):
    sequence = sequence_create(team=world.team, owner=world.owner, name="Outreach")
    client.force_login(world.owner)
    url = reverse("sequences:step-add", args=[sequence.pk])
    data = {
        "channel": "email",
        "delay_amount": "0",
        "delay_unit": "days",
        "subject_template": "Hi {{ first_name }}\r\nBcc: spy@evil.example",
        "body_template": "Hello",
    }
    response = client.post(url, data)
    assert response.status_code == 400
    assert response.context["step_form"].errors["subject_template"] == [CONTROL_CHARACTERS_MESSAGE]
    assert not SequenceStep.objects.exists()
    data["subject_template"] = "Hi {{ first_name }}"
    assert client.post(url, data).status_code == 302
    assert SequenceStep.objects.get().subject_template == "Hi {{ first_name }}"


def test_the_services_refuse_them_too_by_model_validation(world):
    with pytest.raises(ValidationError) as caught:
        prospect_create(team=world.team, first_name=INJECTED)
    assert caught.value.message_dict == {"first_name": [CONTROL_CHARACTERS_MESSAGE]}
    with pytest.raises(ValidationError) as caught:
        sequence_create(team=world.team, owner=world.owner, name=INJECTED)
    assert "name" in caught.value.message_dict
    sequence = sequence_create(team=world.team, owner=world.owner, name="Fine")
    with pytest.raises(ValidationError) as caught:
        sequence_step_create(sequence=sequence, subject_template=INJECTED, body_template="Hi")
    assert caught.value.message_dict["subject_template"] == [CONTROL_CHARACTERS_MESSAGE]


def _admin_form_errors(model, data, obj=None):
    """Errors of the support console's own form for `model` (ModelAdmin.get_form), per field."""
    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get_or_create(
        username="support", defaults={"is_staff": True, "is_superuser": True}
    )[0]
    form_class = admin.site._registry[model].get_form(request, obj)
    form = form_class(data=data, instance=obj)
    form.is_valid()
    return form.errors


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (Prospect, "first_name"),
        (Prospect, "last_name"),
        (Sequence, "name"),
        (SequenceStep, "subject_template"),
    ],
)
def test_the_admin_forms_refuse_them(world, model, field):
    assert _admin_form_errors(model, {field: INJECTED})[field] == [CONTROL_CHARACTERS_MESSAGE]
    assert field not in _admin_form_errors(model, {field: "Grace Hopper"})


def test_the_admin_user_form_refuses_a_name_that_would_go_into_from(world):
    user = world.owner
    for field in ("first_name", "last_name"):
        errors = _admin_form_errors(get_user_model(), {field: INJECTED}, obj=user)
        assert errors[field] == [CONTROL_CHARACTERS_MESSAGE]
        assert field not in _admin_form_errors(get_user_model(), {field: "Rob"}, obj=user)
