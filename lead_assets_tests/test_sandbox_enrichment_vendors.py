"""Contract tests of the sandbox's Hunter, NeverBounce and Clearbit emulators, over real HTTP.

One in-process sandbox serves the module; every test starts from a reset (counters and the
startup config restored). Answers must be grounded in the population: the same people Apollo
sells, the finder's hit rate, and verifiers that agree with each other.
"""

from __future__ import annotations

import base64

import pytest
import requests

from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sandbox.clearbit import UNKNOWN_DOMAIN_RATE
from lead_assets.sandbox.hunter import world_of

# The sandbox answers keep-alive requests promptly only with Nagle off (requested in server.py).

HUNTER_KEY = "sandbox-hunter-key"
NB_KEY = "secret_sandbox-neverbounce-key"
CB_KEY = "sk_sandbox-clearbit-key"
FINDER = "/hunter/v2/email-finder"
VERIFIER = "/hunter/v2/email-verifier"
CHECK = "/neverbounce/v4/single/check"
FIND = "/clearbit/v2/companies/find"


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=800, seed=3)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def reset(sandbox):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)


@pytest.fixture(scope="module")
def world(sandbox):
    return world_of(sandbox.population)


def configure(sandbox, patch):
    r = requests.post(f"{sandbox.base_url}/__sandbox/config", json=patch, timeout=5)
    assert r.status_code == 200, r.text


def unlimited(sandbox):
    """Lift the per-second windows for tests that loop over many people."""
    configure(sandbox, {"limits": {
        "hunter": {"search": {"second": None, "minute": None}, "verifier": {"second": None, "minute": None}},
        "neverbounce": {"single": {"second": None, "minute": None}},
    }})


def stats(sandbox, vendor):
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"][vendor]


def hunter(sandbox, path, key=HUNTER_KEY, **params):
    return requests.get(f"{sandbox.base_url}{path}", params=params, headers={"X-API-KEY": key}, timeout=5)


def find(sandbox, person, **extra):
    params = {"first_name": person.first_name, "last_name": person.last_name, "domain": person.company.domain}
    return hunter(sandbox, FINDER, **{**params, **extra})


def check(sandbox, email, key=NB_KEY):
    return requests.get(f"{sandbox.base_url}{CHECK}", params={"key": key, "email": email}, timeout=5)


def clearbit(sandbox, domain, key=CB_KEY):
    return requests.get(f"{sandbox.base_url}{FIND}", params={"domain": domain},
                        headers={"Authorization": f"Bearer {key}"}, timeout=5)


def originals(sandbox):
    return [p for p in sandbox.population.people if p.duplicate_of is None]


def person_where(sandbox, world, outcome, **conditions):
    for p in originals(sandbox):
        if world.finder_outcome(p) != outcome:
            continue
        if "accept_all" in conditions and world.accept_all(p.company.domain) != conditions["accept_all"]:
            continue
        if "truth" in conditions and world.mailbox_status(p.work_email) != conditions["truth"]:
            continue
        if "delay" in conditions and world.verification_delay(p.work_email) != conditions["delay"]:
            continue
        return p
    raise AssertionError(f"no {outcome} person with {conditions}")


# -- mounts and auth ---------------------------------------------------------------------------


def test_each_vendor_answers_under_its_mount_and_its_own_paths(sandbox):
    p = originals(sandbox)[0]
    assert find(sandbox, p).status_code == 200
    root = requests.get(f"{sandbox.base_url}/v2/email-finder", timeout=5,
                        params={"api_key": HUNTER_KEY, "full_name": f"{p.first_name} {p.last_name}",
                                "company": p.company.name})
    assert root.status_code == 200 and root.json()["data"]["domain"] == p.company.domain
    # /v2/companies/ (Clearbit) is longer than /v2/ (Hunter): the longest prefix wins
    assert requests.get(f"{sandbox.base_url}/v2/companies/find?domain=x.com", timeout=5).status_code == 401
    assert requests.get(f"{sandbox.base_url}/v4/single/check", params={"key": NB_KEY, "email": "a@b.co"},
                        timeout=5).json()["status"] == "success"
    health = requests.get(f"{sandbox.base_url}/__sandbox/health", timeout=5).json()
    assert {"hunter", "neverbounce", "clearbit", "apollo"} <= set(health["vendors"])


def test_hunter_auth_and_error_shape(sandbox):
    p = originals(sandbox)[0]
    params = {"first_name": p.first_name, "last_name": p.last_name, "domain": p.company.domain}
    missing = requests.get(f"{sandbox.base_url}{FINDER}", params=params, timeout=5)
    wrong = hunter(sandbox, FINDER, key="nope", **params)
    for resp in (missing, wrong):
        assert resp.status_code == 401
        assert resp.json()["errors"][0] == {
            "id": "authentication_failed", "code": 401, "details": "No user found for the API key supplied"}
    via_query = requests.get(f"{sandbox.base_url}{FINDER}", params={**params, "api_key": HUNTER_KEY}, timeout=5)
    via_bearer = requests.get(f"{sandbox.base_url}{FINDER}", params=params,
                              headers={"Authorization": f"Bearer {HUNTER_KEY}"}, timeout=5)
    assert via_query.status_code == via_bearer.status_code == 200
    no_domain = hunter(sandbox, FINDER, first_name="A", last_name="B")
    assert no_domain.status_code == 400 and no_domain.json()["errors"][0]["id"] == "wrong_params"


def test_hunter_test_key_answers_dummy_data_for_free(sandbox):
    resp = hunter(sandbox, FINDER, key="test-api-key", first_name="Jane", last_name="Doe", domain="acme.com")
    assert resp.status_code == 200 and resp.json()["data"]["email"] == "dustin@hunter.io"
    assert stats(sandbox, "hunter")["credits_consumed"] == 0


# -- the finder, grounded in the population ----------------------------------------------------


def test_finder_finds_most_real_work_emails_of_people_apollo_lacks(sandbox, world):
    unlimited(sandbox)
    lacking = [p for p in originals(sandbox) if p.email_kind != "valid"][:200]
    found = wrong = 0
    for p in lacking:
        data = find(sandbox, p).json()["data"]
        if data["email"] == p.work_email:
            found += 1
            assert data["score"] >= 55
        elif data["email"]:
            wrong += 1
            assert data["score"] < 62 and data["verification"]["status"] is None
        else:
            assert data["score"] is None
    assert 0.58 <= found / len(lacking) <= 0.74
    assert 0.05 <= wrong / len(lacking) <= 0.20
    s = stats(sandbox, "hunter")
    assert s["credits_consumed"] == found + wrong  # 1 credit per email found, nothing for a miss
    assert s["rebought"] == {}


def test_finder_is_deterministic_and_charges_every_repeat(sandbox, world):
    p = person_where(sandbox, world, "found")
    first, second = find(sandbox, p).json(), find(sandbox, p, domain=f"https://www.{p.company.domain}/").json()
    assert first["data"]["email"] == second["data"]["email"] == p.work_email
    assert first["data"]["score"] == second["data"]["score"]
    by_company = hunter(sandbox, FINDER, first_name=p.first_name.upper(), last_name=p.last_name,
                        company=p.company.name).json()["data"]
    assert by_company["email"] == p.work_email and by_company["domain"] == p.company.domain
    assert stats(sandbox, "hunter")["rebought"] == {f"email-finder:{p.id}": 3}


# -- rate windows and quota --------------------------------------------------------------------


def test_hunter_rate_limit_is_403_and_quota_is_429(sandbox, world):
    p = person_where(sandbox, world, "found")
    configure(sandbox, {"windows": {"second": 30}, "limits": {"hunter": {"search": {"second": 2}}}})
    assert [find(sandbox, p).status_code for _ in range(3)] == [200, 200, 403]
    body = find(sandbox, p).json()
    assert body["errors"][0]["id"] == "too_many_requests" and body["errors"][0]["code"] == 403
    assert stats(sandbox, "hunter")["rate_limited"] == {"search": 2}
    # the verifier has its own window
    assert hunter(sandbox, VERIFIER, email="someone@gmail.com").status_code == 200

    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)
    configure(sandbox, {"keys": {"hunter": {"credits": 1}}})
    assert find(sandbox, p).status_code == 200
    spent = find(sandbox, p)
    assert spent.status_code == 429
    assert spent.json()["errors"][0]["details"].startswith("You've reached the limit")
    assert stats(sandbox, "hunter")["quota_exceeded"] == 1


def test_injected_rate_limit_fault_looks_like_hunters_403(sandbox, world):
    configure(sandbox, {"faults": {"hunter": {"fail_next": 1, "fail_next_kind": "429"}}})
    assert find(sandbox, originals(sandbox)[0]).status_code == 403


# -- verifiers ---------------------------------------------------------------------------------


def test_verifier_statuses_follow_the_truth(sandbox, world):
    valid = person_where(sandbox, world, "found", accept_all=False, truth="valid", delay=None)
    catchall = person_where(sandbox, world, "found", accept_all=True, truth="accept_all", delay=None)
    guess = person_where(sandbox, world, "guess", accept_all=False)
    guessed = find(sandbox, guess).json()["data"]["email"]
    cases = {valid.work_email: "valid", catchall.work_email: "accept_all", "someone@gmail.com": "webmail",
             "x@nowhere-at-all.example": "invalid", guessed: "invalid"}
    cases = {e: s for e, s in cases.items()
             if world.verification_delay(e) is None and world.mailbox_status(e) != "unknown"}
    assert len(cases) >= 4
    for email, status in cases.items():
        data = hunter(sandbox, VERIFIER, email=email).json()["data"]
        assert data["status"] == status, email
        assert data["result"] == {"valid": "deliverable", "invalid": "undeliverable"}.get(status, "risky")
    assert stats(sandbox, "hunter")["credits_consumed"] == 0.5 * len(cases) + 1


def test_verifier_202_then_200_and_222_unpaid(sandbox, world):
    pending = next(p.work_email for p in originals(sandbox) if world.verification_delay(p.work_email) == "pending")
    flaky = next(p.work_email for p in originals(sandbox) if world.verification_delay(p.work_email) == "flaky")
    first = hunter(sandbox, VERIFIER, email=pending)
    assert first.status_code == 202 and first.json()["errors"][0]["id"] == "verification_in_progress"
    assert hunter(sandbox, VERIFIER, email=pending).status_code == 200
    assert [hunter(sandbox, VERIFIER, email=flaky).status_code for _ in range(3)] == [222, 222, 222]
    assert stats(sandbox, "hunter")["credits_consumed"] == 0.5  # only the answered verification


def test_neverbounce_agrees_with_hunter_and_errors_arrive_as_200(sandbox, world):
    unlimited(sandbox)
    sample = [p.work_email for p in originals(sandbox)[:60]] + ["a@gmail.com", "b@mailinator.com"]
    mapping = {"valid": "valid", "webmail": "valid", "invalid": "invalid", "accept_all": "catchall",
               "unknown": "unknown", "disposable": "disposable"}
    for email in sample:
        body = check(sandbox, email).json()
        assert body["status"] == "success"
        assert body["result"] == mapping[world.mailbox_status(email)], email
        assert isinstance(body["execution_time"], int) and isinstance(body["flags"], list)
    s = stats(sandbox, "neverbounce")
    assert s["credits_consumed"] == len(sample) and s["rebought"] == {}

    bad = check(sandbox, sample[0], key="secret_wrong")
    assert bad.status_code == 200 and bad.json()["status"] == "auth_failure"
    no_key = requests.get(f"{sandbox.base_url}{CHECK}", params={"email": "a@b.co"}, timeout=5).json()
    assert no_key["status"] == "general_failure" and "key" in no_key["message"]
    no_email = check(sandbox, "").json()
    assert no_email["status"] == "general_failure" and "email" in no_email["message"]
    # The single check is a GET (vendor-apis.md Corrections 3): a POST, JSON or form, is refused, never charged.
    for post in ({"json": {"key": NB_KEY, "email": sample[0]}}, {"data": {"key": NB_KEY, "email": sample[0]}}):
        refused = requests.post(f"{sandbox.base_url}{CHECK}", timeout=5, **post)
        assert refused.status_code == 405 and refused.json()["status"] == "general_failure"
    assert stats(sandbox, "neverbounce")["rebought"] == {}


def test_neverbounce_throttle_and_outage_are_http_200(sandbox):
    configure(sandbox, {"windows": {"second": 30}, "limits": {"neverbounce": {"single": {"second": 1}}}})
    assert check(sandbox, "a@gmail.com").json()["status"] == "success"
    throttled = check(sandbox, "a@gmail.com")
    assert throttled.status_code == 200 and throttled.json()["status"] == "throttle_triggered"
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)
    configure(sandbox, {"faults": {"neverbounce": {"fail_next": 2, "fail_next_kind": "503"}}})
    outage = check(sandbox, "a@gmail.com")
    assert outage.status_code == 200 and outage.json()["status"] == "temp_unavail"
    configure(sandbox, {"faults": {"neverbounce": {"fail_next": 1, "fail_next_kind": "429"}}})
    assert check(sandbox, "a@gmail.com").json()["status"] == "throttle_triggered"
    assert stats(sandbox, "neverbounce")["credits_consumed"] == 0


# -- Clearbit ----------------------------------------------------------------------------------


def test_clearbit_queues_then_answers_with_the_employer(sandbox, world):
    app_knows = [c for c in sandbox.population.companies if c.gaps]
    company = next(c for c in app_knows if "industry" in c.gaps or "size" in c.gaps)
    queued = clearbit(sandbox, company.domain)
    assert queued.status_code == 202 and queued.content == b""
    body = clearbit(sandbox, f"WWW.{company.domain}").json()
    assert body["name"] == company.name and body["domain"] == company.domain
    # Clearbit knows what Apollo lacked (unless it lacks it too, for a few companies)
    assert body["category"]["industry"] or body["metrics"]["employees"]
    if body["metrics"]["employees"]:
        assert body["metrics"]["employeesRange"]
    s = stats(sandbox, "clearbit")
    assert s["credits_consumed"] == 1 and s["requests"]["companies/find"] == {"200": 1, "202": 1}
    clearbit(sandbox, company.domain)
    assert stats(sandbox, "clearbit")["rebought"] == {company.domain: 2}


def test_clearbit_unknown_domains_auth_and_rate_limit(sandbox):
    unknown = clearbit(sandbox, "never-heard-of-it.example")
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "unknown_record"
    gone = sum(clearbit(sandbox, c.domain).status_code == 404 for c in sandbox.population.companies[:150])
    assert 0 < gone <= 150 * UNKNOWN_DOMAIN_RATE * 2.5
    assert clearbit(sandbox, "x.com", key="nope").status_code == 401
    basic = base64.b64encode(f"{CB_KEY}:".encode()).decode()
    assert requests.get(f"{sandbox.base_url}{FIND}", params={"domain": "nope.example"},
                        headers={"Authorization": f"Basic {basic}"}, timeout=5).status_code == 404
    assert clearbit(sandbox, "").status_code == 422
    configure(sandbox, {"windows": {"minute": 30}, "limits": {"clearbit": {"find": {"minute": 1}}}})
    requests.post(f"{sandbox.base_url}/__sandbox/reset", timeout=5)  # counters only: the limit stays
    clearbit(sandbox, "nope.example")
    limited = clearbit(sandbox, "nope.example")
    assert limited.status_code == 429 and limited.headers["Retry-After"]
