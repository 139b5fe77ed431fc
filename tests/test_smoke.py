from tests.factories import Api


async def test_core_loop_rest(api: Api) -> None:
    driver = await api.register_driver()
    order = await api.order("cust-1")
    assert order["status"] == "searching"
    feed = await api.ok("GET", "/jobs/available", driver["sub"])
    assert [j["id"] for j in feed["items"]] == [order["id"]]
    job = await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    assert job["status"] == "accepted"
    job = await api.walk_to(driver["sub"], order["id"], "complete")
    assert job["status"] == "completed"
