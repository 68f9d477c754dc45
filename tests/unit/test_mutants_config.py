"""Config messages the mutation run showed untested (make mutation)."""

import pytest

from config import InvalidConfigError, parse


@pytest.mark.parametrize("value", [True, False])
def test_delete_client_data_takes_a_boolean(value):
    assert parse({"delete-client-data": value}).delete_client_data is value


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_delete_client_data_that_is_not_a_boolean_names_the_option_and_the_problem(value):
    # No message of the charm's own for this one: pydantic's, after the option's name.
    with pytest.raises(InvalidConfigError) as error:
        parse({"delete-client-data": value})
    assert str(error.value) == "delete-client-data: Input should be a valid boolean"


def test_every_bad_option_is_named_once_in_order_separated_by_semicolons():
    with pytest.raises(InvalidConfigError) as error:
        parse({"open-chroots": 5, "delete-client-data": "no", "tick-time": 0})
    assert str(error.value) == (
        "delete-client-data: Input should be a valid boolean; "
        "open-chroots must be text; "
        "tick-time must be between 100 and 60000"
    )
