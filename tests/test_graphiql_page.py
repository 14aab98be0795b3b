"""GET /graphql as a page: the web build's bundled GraphiQL under a policy that allows no other origin."""

from __future__ import annotations

from churns_gql.security_headers import LOCAL_GRAPHIQL_POLICY
from churns_gql.services import tokens
from tests.conftest import import_images, png_bytes

RUNS = "{ runs { edges { node { id prompt } } } }"
PAGE = (
    '<!doctype html><html><head><script type="module" src="/assets/graphiql-x.js"></script></head>'
    '<body><div id="graphiql-root"></div></body></html>'
)


def _with_build(services, tmp_path) -> None:
    (tmp_path / "graphiql.html").write_text(PAGE)
    services.settings = services.settings.with_changes(web_dir=tmp_path)


async def test_the_bundled_explorer_is_served_with_a_policy_naming_no_cdn(client, services, tmp_path):
    _with_build(services, tmp_path)
    page = await client.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and page.text == PAGE
    policy = page.headers["content-security-policy"]
    assert policy == LOCAL_GRAPHIQL_POLICY
    assert (
        "unpkg" not in policy
        and "http" not in policy
        and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    )


async def test_a_query_in_the_url_still_needs_the_token_with_the_explorer_built(client, services, tmp_path):
    _with_build(services, tmp_path)
    await import_images(client, [png_bytes()], prompt="secret launch")
    async with services.db() as session:
        _row, token = await tokens.create_token(session, "t")
        await session.commit()
    services.gate.forget()
    page = await client.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "secret launch" not in page.text
    refused = await client.http.get("/graphql", params={"query": RUNS}, headers={"accept": "text/html"})
    assert refused.status_code == 401 and "secret launch" not in refused.text
    allowed = await client.http.get(
        "/graphql", params={"query": RUNS}, headers={"accept": "application/json", "authorization": f"Bearer {token}"}
    )
    assert allowed.status_code == 200 and allowed.json()["data"]["runs"] == {
        "edges": []
    }  # ownerless runs are not its own


async def test_without_a_web_build_strawberrys_page_keeps_its_own_policy(client, services, tmp_path):
    services.settings = services.settings.with_changes(web_dir=tmp_path / "missing")
    page = await client.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "unpkg.com" in page.text
    assert "https://unpkg.com" in page.headers["content-security-policy"]
