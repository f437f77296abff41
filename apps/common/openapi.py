"""The parts of the HTTP API that are plain Django views, described in the OpenAPI schema.

drf-spectacular only sees DRF views. Open311 GeoReport v2 (`apps.issues.open311`, `/open311/v2/...`: the
spec fixes the JSON and XML shapes, so they are plain views) and the vector tiles (`apps.tiles.views`,
`/tiles/...`: the body is protobuf) are added here by a postprocessing hook (SPECTACULAR_SETTINGS
"POSTPROCESSING_HOOKS"), so `/api/schema/` is the whole API and `make fuzz` reaches them too.

What can drift is derived from the code: the Open311 field lists (`open311.*_FIELDS`), the service
attributes, priorities and limits; the tile layers, zoom range and each filter's layers come from
`apps.tiles.layers.LAYERS`. tests/test_openapi.py checks that every URL pattern under open311/ and
tiles/ has a path here and that the field lists match."""

from apps.issues import open311
from apps.issues.models import DESCRIPTION_MAX, Issue, Status
from apps.territory.models import HouseholdSource, ManagementType
from apps.tiles.layers import LAYERS, MAX_ZOOM

O311 = "/open311/v2"
FORMAT_DOC = "`json` or `xml` (the same data; XML is well-formed, UTF-8)"

# ---------------------------------------------------------------- Open311 schemas

STR = {"type": "string"}
DATETIME = {
    "type": "string",
    "format": "date-time",
    "nullable": True,
    "description": "W3C date-time, local time (Asia/Shanghai)",
}

# The type of every field the server sends, by name; the field lists (and their order) are the ones in
# apps.issues.open311, so a field added there without a type here fails tests/test_openapi.py.
FIELD_TYPES = {
    # services
    "service_code": STR,
    "service_name": STR,
    "description": STR,
    "metadata": {
        "type": "boolean",
        "description": "true: GET services/{service_code} has attributes",
    },
    "type": {"type": "string", "enum": ["realtime", "batch", "blackbox"]},
    "keywords": {"type": "string", "description": "comma-separated"},
    "group": {"type": "string", "description": "the parent category"},
    # attributes
    "variable": {"type": "boolean"},
    "code": STR,
    "datatype": {
        "type": "string",
        "enum": ["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"],
    },
    "required": {"type": "boolean"},
    "datatype_description": STR,
    "order": {"type": "integer"},
    # requests
    "service_request_id": {"type": "string", "description": "the tracking code"},
    "status": {"type": "string", "enum": ["open", "closed"]},
    "status_notes": {"type": "string", "description": "note of the latest loop transition"},
    "agency_responsible": STR,
    "service_notice": STR,
    "requested_datetime": DATETIME,
    "updated_datetime": DATETIME,
    "expected_datetime": {**DATETIME, "description": "due time from the category SLA"},
    "address": STR,
    "address_id": STR,
    "zipcode": STR,
    "lat": {"type": "number", "format": "double"},
    "long": {"type": "number", "format": "double"},
    "media_url": STR,
    "token": STR,
    "account_id": STR,
    "update_id": {"type": "integer"},
}


def _object(fields: list[str], *, xml_name: str, extra: dict | None = None) -> dict:
    props = {name: dict(FIELD_TYPES[name]) for name in fields}
    props.update(extra or {})
    return {
        "type": "object",
        "properties": props,
        "required": list(fields),
        "xml": {"name": xml_name},
    }


def _list(ref: str, root: str) -> dict:
    return {
        "type": "array",
        "items": {"$ref": f"#/components/schemas/{ref}"},
        "xml": {"name": root, "wrapped": True},
    }


def open311_components() -> dict:
    value = {
        "type": "object",
        "properties": {"key": STR, "name": STR},
        "required": ["key", "name"],
        "xml": {"name": "value"},
    }
    attribute = _object(
        open311.ATTRIBUTE_FIELDS,
        xml_name="attribute",
        extra={
            "values": {"type": "array", "items": value, "xml": {"name": "values", "wrapped": True}}
        },
    )
    return {
        "Open311Service": _object(open311.SERVICE_FIELDS, xml_name="service"),
        "Open311Attribute": attribute,
        "Open311ServiceDefinition": {
            "type": "object",
            "properties": {
                "service_code": STR,
                "attributes": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/Open311Attribute"},
                    "xml": {"name": "attributes", "wrapped": True},
                },
            },
            "required": ["service_code", "attributes"],
            "xml": {"name": "service_definition"},
        },
        "Open311ServiceRequest": _object(
            open311.REQUEST_FIELDS,
            xml_name="request",
            extra={
                "extended_attributes": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "with extended_attributes=true: loop status, overdue, rework count, "
                    "category, area code, rating, kind of responsible party",
                }
            },
        ),
        "Open311PostResponse": _object(open311.POST_RESPONSE_FIELDS, xml_name="request"),
        "Open311Token": _object(open311.TOKEN_FIELDS, xml_name="request"),
        "Open311Update": _object(open311.UPDATE_FIELDS, xml_name="request_update"),
        "Open311Error": {
            "type": "object",
            "properties": {"code": {"type": "integer"}, "description": STR},
            "required": ["code", "description"],
            "xml": {"name": "error"},
        },
    }


def _content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}, "text/xml": {"schema": schema}}


def _ok(ref: str, root: str, description: str, *, single: bool = False) -> dict:
    schema = {"$ref": f"#/components/schemas/{ref}"} if single else _list(ref, root)
    return {"description": description, "content": _content(schema)}


def _error(description: str) -> dict:
    return {
        "description": description + " (the spec's error list, in the requested format)",
        "content": _content(_list("Open311Error", "errors")),
    }


FORMAT_PARAM = {
    "in": "path",
    "name": "format",
    "required": True,
    "schema": {"type": "string", "enum": ["json", "xml"]},
    "description": FORMAT_DOC,
}
# Path segments match [\w-]+ (apps/issues/urls.py); anything else is Django's plain 404.
SEGMENT = {"type": "string", "pattern": r"^[\w-]+$"}


def _path_param(name: str, description: str) -> dict:
    return {
        "in": "path",
        "name": name,
        "required": True,
        "schema": dict(SEGMENT),
        "description": description,
    }


def _query(name: str, schema: dict, description: str) -> dict:
    return {
        "in": "query",
        "name": name,
        "required": False,
        "schema": schema,
        "description": description,
    }


PAGING = [
    _query(
        "page",
        {"type": "integer", "minimum": 1, "maximum": 10**6},
        "page number (extension), from 1",
    ),
    _query(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": open311.DEFAULT_LIMIT},
        f"records per page (extension), at most and by default {open311.DEFAULT_LIMIT}",
    ),
]
DATES = [
    _query(
        "start_date",
        {"type": "string", "format": "date-time"},
        "earliest requested_datetime (ISO 8601 date-time or YYYY-MM-DD); "
        f"without start_date and end_date: the last {open311.DEFAULT_DAYS} days",
    ),
    _query(
        "end_date",
        {"type": "string", "format": "date-time"},
        "latest requested_datetime (ISO 8601 date-time or YYYY-MM-DD)",
    ),
]
JURISDICTION = _query(
    "jurisdiction_id",
    STR,
    f"accepted and ignored: this server is one jurisdiction ({open311.JURISDICTION!r})",
)


def _op(op_id: str, summary: str, *, parameters: list, responses: dict, **more) -> dict:
    return {
        "operationId": op_id,
        "summary": summary,
        "tags": ["open311"],
        "parameters": [FORMAT_PARAM, *parameters],
        "responses": responses,
        "security": [{}],  # public; POST requests carries an api_key in its body
        **more,
    }


def _post_body() -> dict:
    priorities = [a for a in open311.ATTRIBUTES if a["code"] == "priority"][0]
    props = {
        "api_key": {
            "type": "string",
            "maxLength": 64,
            "description": "the client's key (403 without)",
        },
        "service_code": {"type": "string", "description": "from GET services"},
        "lat": {"type": "number", "format": "double", "minimum": -90, "maximum": 90},
        "long": {"type": "number", "format": "double", "minimum": -180, "maximum": 180},
        "address_string": {
            "type": "string",
            "maxLength": Issue._meta.get_field("address").max_length,
            "description": "without lat/long: located only when it is exactly a building's address",
        },
        "attribute[priority]": {
            "type": "string",
            "enum": [v["key"] for v in priorities["values"]],
            "description": "service attribute priority (default normal)",
        },
        "attribute[room]": {"type": "string", "description": "building-unit-room, e.g. 3-2-501"},
        "description": {
            "type": "string",
            "minLength": 1,
            "maxLength": DESCRIPTION_MAX,
            "description": "required by this server (the spec leaves it optional)",
        },
        "first_name": {"type": "string"},
        "last_name": {"type": "string"},
        "phone": {"type": "string"},
        "email": {"type": "string"},
        "device_id": {"type": "string", "description": "accepted and ignored"},
        "account_id": {"type": "string", "description": "echoed in the response"},
        "media_url": {
            "type": "string",
            "format": "uri",
            "maxLength": Issue._meta.get_field("media_url").max_length,
        },
    }
    schema = {
        "type": "object",
        "properties": props,
        "required": ["api_key", "service_code", "description"],
        # A location: lat and long, or address_string.
        "anyOf": [{"required": ["lat", "long"]}, {"required": ["address_string"]}],
        # Any other attribute[<code>] is stored with the issue; other fields are ignored.
        "additionalProperties": {"type": "string"},
        "description": "a location is required: lat and long, or address_string. Other "
        "attribute[<code>] fields are stored with the request.",
    }
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": schema},
            "multipart/form-data": {"schema": schema},
        },
    }


def open311_paths() -> dict:
    not_found = _error("no such service, request or token")
    bad = _error("a malformed parameter, named in the description")
    ids = _query(
        "service_request_id",
        STR,
        "comma-separated tracking codes; when given, all other parameters are ignored",
    )
    requests_get = _op(
        "open311_requests_list",
        "Service requests (GET Service Requests)",
        parameters=[
            JURISDICTION,
            ids,
            _query("service_code", STR, "comma-separated service codes (or category codes)"),
            *DATES,
            _query(
                "status",
                {"type": "string", "pattern": r"^((open|closed),?)*$"},
                "open, closed, or both comma-separated",
            ),
            _query(
                "extended_attributes",
                {"type": "boolean"},
                "true: add extended_attributes to each request (extension)",
            ),
            *PAGING,
        ],
        responses={
            "200": _ok("Open311ServiceRequest", "service_requests", "newest first"),
            "400": bad,
        },
    )
    requests_post = _op(
        "open311_requests_create",
        "Create a service request (POST Service Request)",
        parameters=[],
        requestBody=_post_body(),
        responses={
            "201": _ok("Open311PostResponse", "service_requests", "created; keep the token"),
            "400": _error("a missing or bad field, or a location that cannot be found"),
            "403": _error("api_key missing or not valid"),
            "429": _error(
                f"too many requests per api_key or per client (per {open311.OPEN311_WINDOW_SECONDS} s)"
            ),
        },
    )
    return {
        f"{O311}/services.{{format}}": {
            "get": _op(
                "open311_services_list",
                "Services (GET Service List): the subcategories, grouped by category",
                parameters=[JURISDICTION],
                responses={"200": _ok("Open311Service", "services", "every active service")},
            )
        },
        f"{O311}/services/{{service_code}}.{{format}}": {
            "get": _op(
                "open311_service_definition",
                "Service definition (GET Service Definition): its attributes",
                parameters=[_path_param("service_code", "from GET services"), JURISDICTION],
                responses={
                    "200": _ok(
                        "Open311ServiceDefinition",
                        "service_definition",
                        "the attributes",
                        single=True,
                    ),
                    "404": not_found,
                },
            )
        },
        f"{O311}/requests.{{format}}": {"get": requests_get, "post": requests_post},
        f"{O311}/requests/{{service_request_id}}.{{format}}": {
            "get": _op(
                "open311_request_detail",
                "One service request (GET Service Request)",
                parameters=[
                    _path_param("service_request_id", "the tracking code"),
                    JURISDICTION,
                    _query(
                        "extended_attributes", {"type": "boolean"}, "true: add extended_attributes"
                    ),
                ],
                responses={
                    "200": _ok("Open311ServiceRequest", "service_requests", "a list of one"),
                    "404": not_found,
                },
            )
        },
        f"{O311}/requests/{{service_request_id}}/media/{{photo_id}}": {
            "get": _op(
                "open311_request_media",
                "A photo of a service request (the request's media_url)",
                parameters=[
                    _path_param("service_request_id", "the tracking code"),
                    {
                        "in": "path",
                        "name": "photo_id",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                        "description": "the photo's id, as in media_url",
                    },
                ],
                responses={
                    "200": {
                        "description": "the image (JPEG, PNG or WebP)",
                        "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "404": {"description": "no such request or photo"},
                },
            )
        },
        f"{O311}/tokens/{{token}}.{{format}}": {
            "get": _op(
                "open311_token",
                "Service request id from a token (GET request_id from a token)",
                parameters=[_path_param("token", "the token from POST requests"), JURISDICTION],
                responses={
                    "200": _ok("Open311Token", "service_requests", "a list of one"),
                    "404": not_found,
                },
            )
        },
        f"{O311}/servicerequestupdates.{{format}}": {
            "get": _op(
                "open311_updates",
                "Service request updates (extension): the loop's transitions",
                parameters=[JURISDICTION, ids, *DATES, *PAGING],
                responses={
                    "200": _ok("Open311Update", "service_request_updates", "oldest first"),
                    "400": bad,
                },
            )
        },
    }


# ---------------------------------------------------------------- tiles

# The schema of each tile filter's value, by filter name (its parser is in apps.tiles.layers). "scope"
# is set from the login, never a parameter, so it is not listed.
TILE_FILTER_SCHEMAS = {
    "within": {"type": "string", "pattern": r"^[0-9]{6,18}(C[0-9]{0,3})?$"},
    "min_households": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
    "management_type": {"type": "string", "enum": list(ManagementType.values)},
    "min_floors": {"type": "integer", "minimum": 1, "maximum": 300},
    "households_source": {"type": "string", "enum": list(HouseholdSource.values)},
    "status": {
        "type": "string",
        "pattern": "^(" + "|".join(Status.values) + ")(,(" + "|".join(Status.values) + "))*$",
    },
    "category": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_-]{0,49}$"},
    "since": {"type": "string", "format": "date"},
    "until": {"type": "string", "format": "date"},
}
NOT_PARAMETERS = {"scope"}
TILE_ERROR = {
    "type": "object",
    "properties": {"error": STR, "code": STR, "field": STR},
    "required": ["error", "code"],
}


def tile_filters() -> dict[str, dict]:
    """Filter name -> {"description", "layers"} over every layer, in registry order."""
    found: dict[str, dict] = {}
    for layer in LAYERS.values():
        for f in layer.filters:
            if f.name in NOT_PARAMETERS:
                continue
            entry = found.setdefault(f.name, {"description": f.description, "layers": []})
            entry["layers"].append(layer.name)
    return found


def tile_paths() -> dict:
    coord = {"type": "integer", "minimum": 0, "maximum": (1 << MAX_ZOOM) - 1}
    staff = [name for name, layer in LAYERS.items() if layer.scoped]
    params = [
        {
            "in": "path",
            "name": "layer",
            "required": True,
            "schema": {"type": "string", "enum": list(LAYERS)},
            "description": f"tile layer; staff only: {', '.join(staff)}",
        },
        {
            "in": "path",
            "name": "z",
            "required": True,
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ZOOM},
            "description": "zoom (below a layer's min_zoom the tile is empty)",
        },
        {
            "in": "path",
            "name": "x",
            "required": True,
            "schema": coord,
            "description": "column, 0 to 2^z - 1",
        },
        {
            "in": "path",
            "name": "y",
            "required": True,
            "schema": coord,
            "description": "row, 0 to 2^z - 1 (XYZ, from the north)",
        },
    ]
    for name, info in tile_filters().items():
        param = _query(
            name,
            dict(TILE_FILTER_SCHEMAS.get(name, STR)),
            f"{info['description']}. Layers: {', '.join(info['layers'])} "
            "(a filter another layer does not have is refused with 400)",
        )
        param["x-layers"] = info["layers"]  # machine-readable: bench/fuzz.py splits by layer
        params.append(param)
    error = {"application/json": {"schema": TILE_ERROR}}
    return {
        "/tiles/{layer}/{z}/{x}/{y}.mvt": {
            "get": {
                "operationId": "tiles_tile",
                "summary": "A vector tile (Mapbox Vector Tile) of one layer",
                "tags": ["tiles"],
                "parameters": params,
                "security": [{"cookieAuth": []}, {}],
                "responses": {
                    "200": {
                        "description": "the tile; X-Tile-Capped: true when the layer's "
                        "max_features cut it",
                        "headers": {
                            "ETag": {"schema": STR},
                            "X-Tile-Capped": {
                                "schema": {"type": "string", "enum": ["true", "false"]}
                            },
                        },
                        "content": {
                            "application/vnd.mapbox-vector-tile": {
                                "schema": {"type": "string", "format": "binary"}
                            }
                        },
                    },
                    "304": {"description": "If-None-Match matched the ETag"},
                    "400": {"description": "a bad z/x/y or filter, named", "content": error},
                    "401": {"description": "a staff layer without signing in", "content": error},
                    "403": {
                        "description": "a staff layer, signed in without a scope",
                        "content": error,
                    },
                    "404": {"description": "no such layer", "content": error},
                },
            }
        },
        "/tiles/layers.json": {
            "get": {
                "operationId": "tiles_layers",
                "summary": "The tile layers: URL template, min zoom, attributes by zoom, filters",
                "tags": ["tiles"],
                "security": [{}],
                "responses": {
                    "200": {
                        "description": "one entry per layer",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "layers": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "name": {
                                                        "type": "string",
                                                        "enum": list(LAYERS),
                                                    },
                                                    "url": STR,
                                                    "min_zoom": {"type": "integer"},
                                                    "staff_only": {"type": "boolean"},
                                                    "max_features": {"type": "integer"},
                                                    "attributes": {"type": "object"},
                                                    "filters": {"type": "object"},
                                                },
                                            },
                                        }
                                    },
                                    "required": ["layers"],
                                }
                            }
                        },
                    }
                },
            }
        },
    }


# ---------------------------------------------------------------- the hook


def postprocess_plain_views(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the plain Django views (Open311, tiles)."""
    paths = result.setdefault("paths", {})
    for path, item in {**open311_paths(), **tile_paths()}.items():
        paths.setdefault(path, item)
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in open311_components().items():
        schemas.setdefault(name, schema)
    tags = result.setdefault("tags", [])
    known = {t.get("name") for t in tags}
    for name, description in [
        ("open311", "Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2), JSON or XML"),
        ("tiles", "Vector tiles of areas, buildings and (staff) issues"),
    ]:
        if name not in known:
            tags.append({"name": name, "description": description})
    # The import upload is multipart with one file; drf-spectacular cannot guess it from the APIView.
    upload = paths.get("/api/dataio/uploads", {}).get("post")
    if upload is not None and "requestBody" not in upload:
        upload["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                }
            },
        }
    return result
