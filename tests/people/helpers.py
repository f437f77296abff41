from apps.people.pii import id_check_char


def valid_id(first17: str = "34011119800101123") -> str:
    return first17 + id_check_char(first17)


def bad_id(first17: str = "34011119800101123") -> str:
    good = id_check_char(first17)
    return first17 + ("1" if good != "1" else "2")
