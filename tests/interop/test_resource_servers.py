"""CreateResourceServer, DescribeResourceServer, ListResourceServers, UpdateResourceServer,
DeleteResourceServer."""

from __future__ import annotations

from cognate_harness import raises_cognito, walk


def scopes(rs) -> dict[str, str]:
    return {s["ScopeName"]: s["ScopeDescription"] for s in rs.get("Scopes", [])}


def test_resource_server_crud(cognito, pool_id):
    created = cognito.create_resource_server(
        UserPoolId=pool_id, Identifier="https://notes.example.com", Name="notes",
        Scopes=[{"ScopeName": "notes.read", "ScopeDescription": "Read notes"},
                {"ScopeName": "notes.write", "ScopeDescription": "Write notes"}],
    )["ResourceServer"]
    assert created["UserPoolId"] == pool_id
    assert created["Identifier"] == "https://notes.example.com"
    assert created["Name"] == "notes"
    assert scopes(created) == {"notes.read": "Read notes", "notes.write": "Write notes"}

    got = cognito.describe_resource_server(UserPoolId=pool_id,
                                           Identifier="https://notes.example.com")["ResourceServer"]
    assert got["Identifier"] == created["Identifier"]
    assert got["Name"] == "notes"
    assert scopes(got) == scopes(created)

    updated = cognito.update_resource_server(
        UserPoolId=pool_id, Identifier="https://notes.example.com", Name="notes v2",
        Scopes=[{"ScopeName": "notes.admin", "ScopeDescription": "Administer"}],
    )["ResourceServer"]
    assert updated["Name"] == "notes v2"
    assert scopes(updated) == {"notes.admin": "Administer"}
    got = cognito.describe_resource_server(UserPoolId=pool_id,
                                           Identifier="https://notes.example.com")["ResourceServer"]
    assert got["Name"] == "notes v2"
    assert scopes(got) == {"notes.admin": "Administer"}

    no_scopes = cognito.create_resource_server(UserPoolId=pool_id, Identifier="bare",
                                               Name="bare")["ResourceServer"]
    assert no_scopes.get("Scopes", []) == []

    cognito.delete_resource_server(UserPoolId=pool_id, Identifier="https://notes.example.com")
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_resource_server(UserPoolId=pool_id,
                                         Identifier="https://notes.example.com")
    listed = cognito.list_resource_servers(UserPoolId=pool_id, MaxResults=50)["ResourceServers"]
    assert [r["Identifier"] for r in listed] == ["bare"]


def test_resource_server_errors(cognito, pool_id):
    cognito.create_resource_server(UserPoolId=pool_id, Identifier="api", Name="api")
    with raises_cognito("InvalidParameterException"):
        cognito.create_resource_server(UserPoolId=pool_id, Identifier="api", Name="again")
    with raises_cognito("ResourceNotFoundException"):
        cognito.describe_resource_server(UserPoolId=pool_id, Identifier="missing")
    with raises_cognito("ResourceNotFoundException"):
        cognito.update_resource_server(UserPoolId=pool_id, Identifier="missing", Name="x")
    with raises_cognito("ResourceNotFoundException"):
        cognito.delete_resource_server(UserPoolId=pool_id, Identifier="missing")
    with raises_cognito("ResourceNotFoundException"):
        cognito.create_resource_server(UserPoolId="local_000000000", Identifier="api", Name="x")
    with raises_cognito("ResourceNotFoundException"):
        cognito.list_resource_servers(UserPoolId="local_000000000", MaxResults=10)
    with raises_cognito("InvalidParameterException"):  # scope names may not contain spaces
        cognito.create_resource_server(UserPoolId=pool_id, Identifier="api2", Name="x",
                                       Scopes=[{"ScopeName": "bad scope",
                                                "ScopeDescription": "x"}])


def test_resource_server_identifiers_are_per_pool(cognito, make_pool):
    a, b = make_pool()["Id"], make_pool()["Id"]
    cognito.create_resource_server(UserPoolId=a, Identifier="shared", Name="in a")
    cognito.create_resource_server(UserPoolId=b, Identifier="shared", Name="in b")
    assert cognito.describe_resource_server(UserPoolId=b, Identifier="shared")[
        "ResourceServer"]["Name"] == "in b"


def test_list_resource_servers_pagination(cognito, pool_id):
    made = {f"https://rs{i}.example.com" for i in range(7)}
    for ident in made:
        cognito.create_resource_server(UserPoolId=pool_id, Identifier=ident, Name=ident[8:11],
                                       Scopes=[{"ScopeName": "read", "ScopeDescription": "r"}])
    items, sizes = walk(cognito.list_resource_servers, "ResourceServers", "NextToken",
                        "NextToken", "MaxResults", 3, UserPoolId=pool_id)
    got = [r["Identifier"] for r in items]
    assert len(got) == len(set(got)), f"duplicates across pages: {got}"
    assert set(got) == made
    assert sizes[:2] == [3, 3] and sum(sizes) == 7
    for r in items:
        assert r["UserPoolId"] == pool_id
        assert r["Name"] == r["Identifier"][8:11]
        assert scopes(r) == {"read": "r"}


def test_list_resource_servers_max_results_above_maximum(cognito, pool_id):
    with raises_cognito("InvalidParameterException"):
        cognito.list_resource_servers(UserPoolId=pool_id, MaxResults=51)
