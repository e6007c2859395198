def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.headers["X-Request-Id"]


def test_policy(client, admin):
    r = client.get("/v1/policy", headers=admin)
    assert r.status_code == 200, r.get_json()
    print(r.get_json())
