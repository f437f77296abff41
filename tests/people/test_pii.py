import pytest

from apps.common.errors import DomainError
from apps.people import pii
from apps.people.privacy import mask_id, mask_name, mask_phone
from tests.people.helpers import bad_id, valid_id


def test_gb11643_check_digit_of_a_published_example():
    # The standard's own example: 11010519491231002X
    assert pii.id_normalise("11010519491231002x") == "11010519491231002X"


def test_a_wrong_check_digit_is_refused_naming_the_expected_one():
    with pytest.raises(DomainError, match="GB 11643 expects") as exc:
        pii.id_normalise(bad_id())
    assert exc.value.field == "id_number"
    with pytest.raises(DomainError, match="18 characters"):
        pii.id_normalise("3401111980")
    with pytest.raises(DomainError, match="not a date"):
        pii.id_normalise(valid_id("34011119801301123"))


def test_phone_format():
    assert pii.phone_normalise("+86 138-1234-5678") == "13812345678"
    with pytest.raises(DomainError, match="not a mobile number"):
        pii.phone_normalise("12812345678")


def test_masks():
    assert mask_name("张三") == "张*"
    assert mask_name("张小三") == "张*三"
    assert mask_name("欧阳小明") == "欧**明"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_id("340111198001011234") == "3401**********1234"


def test_encryption_round_trip_and_keyed_hash():
    number = valid_id()
    token = pii.encrypt(number)
    assert number not in token and pii.decrypt(token) == number
    assert pii.id_hash(number) == pii.id_hash(number) != pii.id_hash(valid_id("34011119800101124"))
    assert pii.id_protect(number)["id_masked"] == mask_id(number)
