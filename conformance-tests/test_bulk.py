"""Bulk (RFC 7644 §3.7): bulkId references, failOnErrors, BulkResponse with string
statuses, and the advertised limits (413 when exceeded)."""
import pytest

from conftest import (
    BULK_REQUEST_SCHEMA,
    BULK_RESPONSE_SCHEMA,
    ERROR_SCHEMA,
    GROUP_SCHEMA,
    PATCH_SCHEMA,
    assert_scim_error,
    expect_status,
    member_ids,
    uniq,
)


def bulk(api, ops, fail_on_errors=None):
    body = {"schemas": [BULK_REQUEST_SCHEMA], "Operations": ops}
    if fail_on_errors is not None:
        body["failOnErrors"] = fail_on_errors
    r = api.post("Bulk", body)
    out = expect_status(r, 200)
    assert out.get("schemas") == [BULK_RESPONSE_SCHEMA], f"not a BulkResponse: {out}"
    assert isinstance(out.get("Operations"), list), out
    return out


def id_from_location(loc):
    assert loc, "a successful bulk POST must carry a location"
    return loc.rstrip("/").rsplit("/", 1)[-1]


def track_created(make, results):
    for res in results:
        if res.get("method", "").upper() == "POST" and str(res.get("status")) == "201":
            resource = "Groups" if "/Groups/" in res.get("location", "") else "Users"
            make.track(resource, id_from_location(res.get("location")))


def op_post_user(make, bulk_id, **overrides):
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": make.user_body(**overrides)}


def exists(api, user_name):
    return api.filter("Users", f'userName eq "{user_name}"')["totalResults"] == 1


def test_bulk_post_user_then_group_referencing_bulk_id(api, make):
    user_op = op_post_user(make, "u1")
    group_op = {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {
        "schemas": [GROUP_SCHEMA],
        "displayName": uniq("Bulk group "),
        "members": [{"type": "User", "value": "bulkId:u1"}],
    }}
    out = bulk(api, [user_op, group_op])
    track_created(make, out["Operations"])
    by_id = {o.get("bulkId"): o for o in out["Operations"]}
    assert by_id["u1"]["status"] == "201", by_id["u1"]
    assert by_id["g1"]["status"] == "201", by_id["g1"]
    uid = id_from_location(by_id["u1"]["location"])
    gid = id_from_location(by_id["g1"]["location"])
    assert api.read("Users", uid)["userName"] == user_op["data"]["userName"]
    assert member_ids(api.read("Groups", gid)) == [uid], "bulkId:u1 must resolve to the new user's id"


def test_bulk_statuses_are_strings_and_ops_echo_method(api, make):
    out = bulk(api, [op_post_user(make, "only")])
    track_created(make, out["Operations"])
    [res] = out["Operations"]
    assert res["status"] == "201" and isinstance(res["status"], str), f"status must be a string: {res}"
    assert res["method"].upper() == "POST"
    assert res["bulkId"] == "only"
    assert "/Users/" in res["location"]


def test_bulk_patch_and_delete(api, make):
    a = make.user()
    b = make.user()
    out = bulk(api, [
        {"method": "PATCH", "path": f"/Users/{a['id']}", "data": {
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "path": "title", "value": "bulk-patched"}]}},
        {"method": "DELETE", "path": f"/Users/{b['id']}"},
    ])
    statuses = [o["status"] for o in out["Operations"]]
    assert statuses[0] in ("200", "204"), statuses
    assert statuses[1] == "204", statuses
    assert api.read("Users", a["id"])["title"] == "bulk-patched"
    assert_scim_error(api.get(f"Users/{b['id']}"), 404)


def test_bulk_id_reference_in_group_patch(api, make):
    g = make.group()
    out = bulk(api, [
        op_post_user(make, "nu"),
        {"method": "PATCH", "path": f"/Groups/{g['id']}", "data": {
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:nu"}]}]}},
    ])
    track_created(make, out["Operations"])
    uid = id_from_location(out["Operations"][0]["location"])
    assert out["Operations"][1]["status"] in ("200", "204"), out["Operations"][1]
    assert member_ids(api.read("Groups", g["id"])) == [uid]


def test_bulk_error_carries_scim_error_response(api, make):
    taken = make.user()
    out = bulk(api, [op_post_user(make, "dup", userName=taken["userName"])])
    track_created(make, out["Operations"])
    [res] = out["Operations"]
    assert res["status"] == "409", res
    err = res.get("response")
    assert err, f"a failed bulk operation carries a response with the error: {res}"
    assert err.get("schemas") == [ERROR_SCHEMA]
    assert err.get("status") == "409"
    assert err.get("scimType") == "uniqueness"


def test_without_fail_on_errors_every_operation_runs(api, make):
    taken = make.user()
    ok = make.user_body()
    out = bulk(api, [
        op_post_user(make, "bad", userName=taken["userName"]),
        {"method": "POST", "path": "/Users", "bulkId": "good", "data": ok},
    ])
    track_created(make, out["Operations"])
    by_id = {o.get("bulkId"): o["status"] for o in out["Operations"]}
    assert by_id == {"bad": "409", "good": "201"}
    assert exists(api, ok["userName"])


def test_fail_on_errors_one_stops_at_first_error(api, make):
    taken = make.user()
    later = make.user_body()
    out = bulk(api, [
        op_post_user(make, "bad", userName=taken["userName"]),
        {"method": "POST", "path": "/Users", "bulkId": "later", "data": later},
    ], fail_on_errors=1)
    track_created(make, out["Operations"])
    assert out["Operations"][0]["status"] == "409"
    assert "later" not in {o.get("bulkId") for o in out["Operations"]}, "processing must stop after 1 error"
    assert not exists(api, later["userName"]), "an operation after the failOnErrors limit was applied"


def test_fail_on_errors_two_allows_one_error(api, make):
    taken = make.user()
    first = make.user_body()
    last = make.user_body()
    out = bulk(api, [
        op_post_user(make, "bad1", userName=taken["userName"]),
        {"method": "POST", "path": "/Users", "bulkId": "first", "data": first},
        op_post_user(make, "bad2", userName=taken["userName"]),
        {"method": "POST", "path": "/Users", "bulkId": "last", "data": last},
    ], fail_on_errors=2)
    track_created(make, out["Operations"])
    assert exists(api, first["userName"]), "one error is below failOnErrors=2: processing continues"
    assert not exists(api, last["userName"]), "processing must stop after the second error"


def test_max_operations_exceeded_is_413(api, spc):
    limit = spc.get("bulk", {}).get("maxOperations")
    assert isinstance(limit, int) and limit > 0, f"bulk.maxOperations must be advertised: {spc.get('bulk')}"
    if limit > 20000:
        pytest.skip(f"maxOperations={limit} is too large to exceed in a test")
    ops = [{"method": "DELETE", "path": f"/Users/{uniq('missing')}"} for _ in range(limit + 1)]
    r = api.post("Bulk", {"schemas": [BULK_REQUEST_SCHEMA], "Operations": ops})
    assert_scim_error(r, 413)


def test_max_payload_size_exceeded_is_413(api, spc, make):
    limit = spc.get("bulk", {}).get("maxPayloadSize")
    assert isinstance(limit, int) and limit > 0, f"bulk.maxPayloadSize must be advertised: {spc.get('bulk')}"
    if limit > 16 * 1024 * 1024:
        pytest.skip(f"maxPayloadSize={limit} is too large to exceed in a test")
    data = make.user_body(title="x" * (limit + 1024))
    r = api.post("Bulk", {"schemas": [BULK_REQUEST_SCHEMA],
                          "Operations": [{"method": "POST", "path": "/Users", "bulkId": "big", "data": data}]})
    if r.status_code == 200:
        track_created(make, r.json().get("Operations", []))
    assert_scim_error(r, 413)
