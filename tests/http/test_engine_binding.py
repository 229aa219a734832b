"""bind_json through real HTTP: attrs classes and dataclasses, and a 400 that says
exactly where each problem is."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator
from typing import Any, Literal

import attrs
import httpx
import pytest
from engine_helpers import serving

from gmp.http import BindError, Context, Engine
from gmp.http.binding import bind

# The module shares one server, which checks for leaked threads when it stops.
pytestmark = [pytest.mark.timeout(60), pytest.mark.shared_server]


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.define
class Address:
    city: str
    zip: str | None = None


@attrs.define
class User:
    name: str
    age: int
    address: Address
    tags: list[str] = attrs.Factory(list)
    scores: dict[str, int] = attrs.Factory(dict)
    color: Color = Color.RED
    kind: Literal["admin", "member"] = "member"
    ratio: float = 1.0
    active: bool = True
    nickname: str | None = None
    previous: list[Address] = attrs.Factory(list)


@dataclasses.dataclass
class Item:
    sku: str
    qty: int = 1


@dataclasses.dataclass
class Order:
    id: int
    items: list[Item]
    note: str | None = None
    shipping: Address | None = None
    flags: dict[str, bool] = dataclasses.field(default_factory=dict)
    level: Literal[1, 2, 3] = 1


TARGETS: dict[str, Any] = {"user": User, "order": Order, "ints": list[int]}


def build_app() -> Engine:
    app = Engine()

    def show(obj: Any) -> Any:
        if isinstance(obj, list):
            return obj
        return repr(obj)

    @app.post("/bind/:target")
    def bind_it(c: Context) -> Any:
        strict = c.query("strict", False, bool)
        return {"bound": show(c.bind_json(TARGETS[c.param("target")], strict=strict))}

    @app.post("/async/bind/:target")
    async def abind_it(c: Context) -> Any:
        return {"bound": show(c.bind_json(TARGETS[c.param("target")]))}

    return app


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with serving(build_app()) as c:
        yield c


def post(client: httpx.Client, target: str, body: bytes | str, **params: str) -> httpx.Response:
    if isinstance(body, str):
        body = body.encode()
    return client.post(
        f"/bind/{target}", content=body, params=params, headers={"content-type": "application/json"}
    )


USER_OK = (
    '{"name": "ann", "age": 41, "address": {"city": "Oslo"}, "tags": ["a", "b"],'
    ' "scores": {"x": 1}, "color": "blue", "kind": "admin", "ratio": 2, "active": false,'
    ' "nickname": null, "previous": [{"city": "Rome", "zip": "00100"}], "unknown": 1}'
)


@pytest.mark.parametrize("prefix", ["", "/async"])
def test_binds_nested_optional_lists_dicts_defaults_enums_literals(client, prefix):
    r = client.post(f"{prefix}/bind/user", content=USER_OK.encode())
    assert r.status_code == 200, r.text
    expected = User(
        name="ann",
        age=41,
        address=Address("Oslo"),
        tags=["a", "b"],
        scores={"x": 1},
        color=Color.BLUE,
        kind="admin",
        ratio=2.0,
        active=False,
        nickname=None,
        previous=[Address("Rome", "00100")],
    )
    assert r.json() == {"bound": repr(expected)}


def test_defaults_fill_absent_fields(client):
    r = post(client, "user", '{"name": "b", "age": 1, "address": {"city": "c"}}')
    assert r.json() == {"bound": repr(User("b", 1, Address("c")))}


def test_binds_dataclasses(client):
    r = post(
        client,
        "order",
        '{"id": 7, "items": [{"sku": "a"}, {"sku": "b", "qty": 3}],'
        ' "shipping": {"city": "Lima"}, "flags": {"gift": true}, "level": 2}',
    )
    assert r.status_code == 200, r.text
    expected = Order(
        7, [Item("a"), Item("b", 3)], shipping=Address("Lima"), flags={"gift": True}, level=2
    )
    assert r.json() == {"bound": repr(expected)}


def test_top_level_list_of_int(client):
    assert post(client, "ints", "[1, 2, 3]").json() == {"bound": [1, 2, 3]}
    assert post(client, "ints", "[]").json() == {"bound": []}


@pytest.mark.parametrize(
    ("target", "body", "fields"),
    [
        ("user", '{"age": 1, "address": {"city": "c"}}', ["$.name: required field missing"]),
        (
            "user",
            '{"name": "a", "age": 1, "address": {}}',
            ["$.address.city: required field missing"],
        ),
        (
            "user",
            '{"name": "a", "age": "5", "address": {"city": "c"}}',
            ["$.age: expected an integer, got str"],
        ),
        (
            "user",
            '{"name": "a", "age": true, "address": {"city": "c"}}',
            ["$.age: expected an integer, got bool"],
        ),
        (
            "user",
            '{"name": "a", "age": 1.5, "address": {"city": "c"}}',
            ["$.age: expected an integer, got float"],
        ),
        (
            "user",
            '{"name": 5, "age": 1, "address": {"city": "c"}}',
            ["$.name: expected a string, got int"],
        ),
        (
            "user",
            '{"name": "a", "age": 1, "address": "Oslo"}',
            ["$.address: expected an object, got str"],
        ),
        (
            "user",
            '{"name": "a", "age": 1, "address": {"city": "c"}, "tags": "ab"}',
            ["$.tags: expected an array, got str"],
        ),
        (
            "user",
            '{"name": "a", "age": 1, "address": {"city": "c"}, "tags": ["x", 2]}',
            ["$.tags[1]: expected a string, got int"],
        ),
        (
            "user",
            '{"name": "a", "age": 1, "address": {"city": "c"}, "scores": [1]}',
            ["$.scores: expected an object, got array"],
        ),
        (
            "user",
            '{"name": "a", "age": 1, "address": {"city": "c"}, "scores": {"k": "v"}}',
            ["$.scores['k']: expected an integer, got str"],
        ),
        (
            "user",
            '{"name": "a", "age": 1, "address": {"city": "c"}, "color": "green"}',
            ["$.color: invalid value for Color: 'green' is not a valid Color"],
        ),
        (
            "user",
            '{"name": "a", "age": 1, "address": {"city": "c"}, "kind": "root"}',
            ['$.kind: expected one of "admin", "member", got "root"'],
        ),
        (
            "user",
            '{"name": "a", "age": 1, "address": {"city": "c"}, "ratio": "1"}',
            ["$.ratio: expected a number, got str"],
        ),
        (
            "user",
            '{"name": "a", "age": 1, "address": {"city": "c"}, "active": 1}',
            ["$.active: expected a boolean, got int"],
        ),
        (
            "user",
            '{"name": "a", "age": 1, "address": {"city": "c"}, "previous": [{"zip": 1}]}',
            [
                "$.previous[0].city: required field missing",
                "$.previous[0].zip: expected a string, got int",
            ],
        ),
        (
            "user",
            '{"name": "a", "age": 1, "address": {"city": "c"}, "nickname": 3}',
            ["$.nickname: expected a string, got int"],
        ),
        ("user", '{"address": 1}', None),  # several at once: checked below
        (
            "order",
            '{"id": 1, "items": [{"sku": "a"}, 5]}',
            ["$.items[1]: expected an object, got int"],
        ),
        ("order", '{"id": 1, "items": {"sku": "a"}}', ["$.items: expected an array, got object"]),
        (
            "order",
            '{"id": 1, "items": [], "shipping": "x"}',
            ["$.shipping: expected an object, got str"],
        ),
        (
            "order",
            '{"id": 1, "items": [], "level": true}',
            ["$.level: expected one of 1, 2, 3, got true"],
        ),
        ("user", "[1, 2]", ["$: expected an object, got array"]),
        ("user", '"text"', ["$: expected an object, got str"]),
        ("user", "null", ["$: expected an object, got null"]),
        ("ints", '{"a": 1}', ["$: expected an array, got object"]),
        ("ints", '"123"', ["$: expected an array, got str"]),
        (
            "ints",
            '[1, "2", true]',
            ["$[1]: expected an integer, got str", "$[2]: expected an integer, got bool"],
        ),
    ],
)
def test_bad_bodies_are_400_naming_the_exact_path_and_problem(client, target, body, fields):
    r = post(client, target, body)
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"
    got = r.json()
    assert got["error"] == "invalid request body"
    if fields is None:
        assert sorted(got["fields"]) == [
            "$.address: expected an object, got int",
            "$.age: required field missing",
            "$.name: required field missing",
        ]
    else:
        assert sorted(got["fields"]) == sorted(fields)


def test_strict_rejects_unknown_fields_at_any_depth(client):
    body = '{"name": "a", "age": 1, "address": {"city": "c", "planet": "earth"}, "x": 1, "y": 2}'
    r = post(client, "user", body, strict="true")
    assert r.status_code == 400
    assert sorted(r.json()["fields"]) == sorted(
        ["$: unknown fields: x, y", "$.address: unknown fields: planet"]
    )
    assert post(client, "user", body).status_code == 200  # ignored by default


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "request body is empty, expected JSON"),
        (
            b'{"name": "a",\n  "age": }',
            "request body is not valid JSON: Expecting value at line 2 column 10",
        ),
        (
            b'{"name": "a"',
            "request body is not valid JSON: Expecting ',' delimiter at line 1 column 13",
        ),
        (b'{"name": "\xff"}', "request body is not UTF-8: invalid start byte at byte 10"),
        ('{"a": 1}'.encode("utf-16"), "request body is not UTF-8: invalid start byte at byte 0"),
    ],
)
def test_undecodable_bodies_are_400_saying_where(client, body, error):
    r = post(client, "user", body)
    assert r.status_code == 400
    assert r.json() == {"error": error}


def test_bind_error_is_a_bad_request_with_its_fields():
    with pytest.raises(BindError) as info:
        bind({"name": 1}, Item)
    assert info.value.status == 400
    assert info.value.errors == ["$.sku: required field missing"]
    assert info.value.body() == {"error": "invalid request body", "fields": info.value.errors}


def test_pydantic_model_is_validated_by_pydantic():
    pydantic = pytest.importorskip("pydantic")

    class Pet(pydantic.BaseModel):  # type: ignore[misc, name-defined]
        name: str
        age: int
        toys: list[Item] = []

    app = Engine()

    @app.post("/pet")
    def pet(c: Context) -> Any:
        return c.bind_json(Pet).model_dump(mode="json")

    with serving(app) as client:
        r = client.post("/pet", content=b'{"name": "rex", "age": 3}')
        assert r.json() == {"name": "rex", "age": 3, "toys": []}
        r = client.post("/pet", content=b'{"age": "old"}')
        assert r.status_code == 400
        fields = r.json()["fields"]
        assert len(fields) == 2
        assert fields[0].startswith("$.name: ") and "required" in fields[0].lower()
        assert fields[1].startswith("$.age: ") and "integer" in fields[1].lower()
        r = client.post("/pet", content=b'{"name": "rex", "age": 3, "toys": [{"sku": "a"}, {}]}')
        assert r.status_code == 400
        (field,) = r.json()["fields"]
        assert field.startswith("$.toys[1].sku: ")
        r = client.post("/pet", content=b"[1]")
        assert r.status_code == 400
        (field,) = r.json()["fields"]
        assert field.startswith("$: ")
