"""A local stand-in for Grafana's HTTP API (no Grafana can be installed here).

It enforces the parts of the real API's contract that provisioning relies on, with the real
status codes and bodies (grafana/grafana pkg/api, Grafana 11):
- bearer token auth: 401 {"message": "Invalid API key"} without it or with a wrong one;
- folders by uid (GET 404, POST 409 on a taken uid, PUT with version check 412);
- datasources by uid (POST 409 on a duplicate name or uid; GET hides secureJsonData and
  reports secureJsonFields; PUT bumps `version`);
- POST /api/dashboards/db: version 1 on create, +1 on every save; with overwrite false a
  posted version other than the current one is 412 {"status": "version-mismatch"}; the same
  title in the same folder under another uid is 412 {"status": "name-exists"}; an empty title,
  a bad uid or an unknown folder is 400; every datasource a panel, target or variable names
  by uid must exist (400 otherwise);
- alert-rule provisioning (/api/v1/provisioning/alert-rules, rule groups): validation 400,
  unknown uid 404, a taken uid 409;
- annotations: POST (text required; an unknown dashboardUID makes an org annotation, as in
  Grafana), GET with dashboardUID/from/to/tags/limit filters.
Every successful write is recorded, so tests can assert that nothing was written at all.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BUILTIN_DATASOURCES = {"-- Grafana --", "grafana", "-- Mixed --", "-- Dashboard --", "__expr__"}
_UID = re.compile(r"^[a-zA-Z0-9\-_]*$")
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$|^0$")


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(body.get("message", ""))
        self.status, self.body = status, body


@dataclass
class State:
    folders: dict[str, dict] = field(default_factory=dict)
    datasources: dict[str, dict] = field(default_factory=dict)
    dashboards: dict[str, dict] = field(default_factory=dict)       # uid -> {"dashboard", "folderUid"}
    versions: dict[str, list[dict]] = field(default_factory=dict)   # uid -> every saved model
    rules: dict[str, dict] = field(default_factory=dict)
    rule_groups: dict[tuple[str, str], int] = field(default_factory=dict)  # (folder, group) -> interval
    rule_writes: dict[str, int] = field(default_factory=dict)
    annotations: list[dict] = field(default_factory=list)
    writes: list[tuple[str, str]] = field(default_factory=list)     # (method, path) of successful writes
    ids: Any = field(default_factory=lambda: itertools.count(1))


class FakeGrafana:
    """`with FakeGrafana(token="t") as g: GrafanaApi.from_url(g.url, credential="t")`."""

    def __init__(self, token: str = "test-token", version: str = "11.6.0"):
        self.token, self.version = token, version
        self.state = State()
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGrafana:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, *args):  # keep test output clean
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = fake.dispatch(self.command, self.path, self.headers.get("Authorization"), raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-grafana", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGrafana:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- test helpers ---------------------------------------------------------------------------

    def dashboard_version(self, uid: str) -> int:
        return self.state.dashboards[uid]["dashboard"]["version"]

    def edit_dashboard(self, uid: str, **changes: Any) -> None:
        """Simulate a person saving the dashboard in the UI (a new version)."""
        with self.lock:
            entry = self.state.dashboards[uid]
            entry["dashboard"] = dict(entry["dashboard"], **changes, version=entry["dashboard"]["version"] + 1)
            self.state.versions[uid].append(entry["dashboard"])

    # --- routing --------------------------------------------------------------------------------

    def dispatch(self, method: str, path: str, auth: str | None, raw: bytes) -> tuple[int, Any]:
        parts = urlsplit(path)
        route, query = parts.path.rstrip("/"), parse_qs(parts.query)
        if route == "/api/health" and method == "GET":
            return 200, {"commit": "fake", "database": "ok", "version": self.version}
        if auth != f"Bearer {self.token}":
            return 401, {"message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401}
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return 400, {"message": "bad request data"}
        with self.lock:
            try:
                status, out = self._route(method, route, query, body)
            except ApiError as exc:
                return exc.status, exc.body
            if method != "GET" and status < 300:
                self.state.writes.append((method, route))
            return status, out

    def _route(self, method: str, route: str, query: dict, body: Any) -> tuple[int, Any]:
        table = [
            ("GET", r"/api/folders", self._list_folders), ("POST", r"/api/folders", self._create_folder),
            ("GET", r"/api/folders/([^/]+)", self._get_folder), ("PUT", r"/api/folders/([^/]+)", self._update_folder),
            ("GET", r"/api/datasources", self._list_datasources),
            ("POST", r"/api/datasources", self._create_datasource),
            ("GET", r"/api/datasources/uid/([^/]+)", self._get_datasource),
            ("PUT", r"/api/datasources/uid/([^/]+)", self._update_datasource),
            ("POST", r"/api/dashboards/db", self._save_dashboard),
            ("GET", r"/api/dashboards/uid/([^/]+)", self._get_dashboard),
            ("DELETE", r"/api/dashboards/uid/([^/]+)", self._delete_dashboard),
            ("GET", r"/api/v1/provisioning/alert-rules", self._list_rules),
            ("POST", r"/api/v1/provisioning/alert-rules", self._create_rule),
            ("GET", r"/api/v1/provisioning/alert-rules/([^/]+)", self._get_rule),
            ("PUT", r"/api/v1/provisioning/alert-rules/([^/]+)", self._update_rule),
            ("DELETE", r"/api/v1/provisioning/alert-rules/([^/]+)", self._delete_rule),
            ("GET", r"/api/v1/provisioning/folder/([^/]+)/rule-groups/([^/]+)", self._get_group),
            ("PUT", r"/api/v1/provisioning/folder/([^/]+)/rule-groups/([^/]+)", self._put_group),
            ("GET", r"/api/annotations", self._find_annotations),
            ("POST", r"/api/annotations", self._add_annotation),
            ("PUT", r"/api/annotations/(\d+)", self._update_annotation),
            ("DELETE", r"/api/annotations/(\d+)", self._delete_annotation),
        ]
        for m, pattern, handler in table:
            match = re.fullmatch(pattern, route)
            if match and m == method:
                return handler(*match.groups(), query=query, body=body)
        raise ApiError(404, {"message": "Not found"})

    # --- folders --------------------------------------------------------------------------------

    def _list_folders(self, *, query, body):
        return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in self.state.folders.values()]

    def _get_folder(self, uid, *, query, body):
        if uid not in self.state.folders:
            raise ApiError(404, {"message": "folder not found", "status": "not-found"})
        return 200, self.state.folders[uid]

    def _create_folder(self, *, query, body):
        body = _object(body)
        title, uid = str(body.get("title") or "").strip(), body.get("uid") or f"f{next(self.state.ids)}"
        if not title:
            raise ApiError(400, {"message": "folder title cannot be empty"})
        _check_uid(uid)
        if uid in self.state.folders or uid in self.state.dashboards:
            raise ApiError(409, {"message": "a folder or dashboard with the same uid already exists"})
        folder = {"id": next(self.state.ids), "uid": uid, "title": title, "url": f"/dashboards/f/{uid}/",
                  "version": 1, "hasAcl": False, "canSave": True, "canEdit": True, "canAdmin": True}
        self.state.folders[uid] = folder
        return 200, folder

    def _update_folder(self, uid, *, query, body):
        body = _object(body)
        folder = self.state.folders.get(uid)
        if folder is None:
            raise ApiError(404, {"message": "folder not found", "status": "not-found"})
        if not body.get("overwrite") and body.get("version") != folder["version"]:
            raise ApiError(412, {"message": "the folder has been changed by someone else",
                                 "status": "version-mismatch"})
        if body.get("title"):
            folder["title"] = str(body["title"])
        folder["version"] += 1
        return 200, folder

    # --- datasources ----------------------------------------------------------------------------

    def _public_datasource(self, ds: dict) -> dict:
        out = {k: v for k, v in ds.items() if k != "secureJsonData"}
        out["secureJsonFields"] = {k: True for k in ds.get("secureJsonData", {})}
        return out

    def _list_datasources(self, *, query, body):
        return 200, [self._public_datasource(d) for d in self.state.datasources.values()]

    def _get_datasource(self, uid, *, query, body):
        if uid not in self.state.datasources:
            raise ApiError(404, {"message": "Data source not found"})
        return 200, self._public_datasource(self.state.datasources[uid])

    def _validate_datasource(self, body: dict, uid: str) -> None:
        if not body.get("name"):
            raise ApiError(400, {"message": "Validation error, need to specify name"})
        if not body.get("type"):
            raise ApiError(400, {"message": "Validation error, need to specify type"})
        _check_uid(uid)
        for other in self.state.datasources.values():
            if other["uid"] != uid and other["name"] == body["name"]:
                raise ApiError(409, {"message": "data source with the same name already exists"})

    def _create_datasource(self, *, query, body):
        body = _object(body)
        uid = body.get("uid") or f"ds{next(self.state.ids)}"
        self._validate_datasource(body, uid)
        if uid in self.state.datasources:
            raise ApiError(409, {"message": "data source with the same uid already exists"})
        ds = {"access": "proxy", "basicAuth": False, "isDefault": False, "jsonData": {}, "readOnly": False,
              "url": "", "user": "", "database": "", "withCredentials": False, **body,
              "id": next(self.state.ids), "uid": uid, "orgId": 1, "version": 1}
        self.state.datasources[uid] = ds
        public = self._public_datasource(ds)
        return 200, {"datasource": public, "id": ds["id"], "message": "Datasource added", "name": ds["name"]}

    def _update_datasource(self, uid, *, query, body):
        body = _object(body)
        ds = self.state.datasources.get(uid)
        if ds is None:
            raise ApiError(404, {"message": "Data source not found"})
        self._validate_datasource(body, uid)
        secure = dict(ds.get("secureJsonData", {}), **(body.get("secureJsonData") or {}))
        ds.update({k: v for k, v in body.items() if k not in ("id", "uid", "version", "secureJsonData")})
        ds["secureJsonData"] = secure
        ds["version"] += 1
        public = self._public_datasource(ds)
        return 200, {"datasource": public, "id": ds["id"], "message": "Datasource updated", "name": ds["name"]}

    # --- dashboards -----------------------------------------------------------------------------

    def _known_datasource(self, ref: Any) -> bool:
        if ref is None:
            return True
        uid = ref.get("uid") if isinstance(ref, dict) else ref
        if uid is None or uid in BUILTIN_DATASOURCES or str(uid).startswith("$"):
            return True
        return uid in self.state.datasources

    def _check_references(self, dash: dict) -> None:
        def check(ref: Any, where: str) -> None:
            if not self._known_datasource(ref):
                uid = ref.get("uid") if isinstance(ref, dict) else ref
                raise ApiError(400, {"message": f"{where} references datasource uid {uid!r}, which does not exist",
                                     "status": "datasource-not-found"})

        def walk(panels: list, prefix: str) -> None:
            for p in panels or []:
                where = f"{prefix}panel {p.get('id')} ({p.get('title', '')!r})"
                check(p.get("datasource"), where)
                for t in p.get("targets") or []:
                    check(t.get("datasource"), f"{where} target {t.get('refId')}")
                walk(p.get("panels"), f"{where} > ")

        walk(dash.get("panels"), "")
        for v in (dash.get("templating") or {}).get("list") or []:
            check(v.get("datasource"), f"variable {v.get('name')!r}")
        for a in (dash.get("annotations") or {}).get("list") or []:
            check(a.get("datasource"), f"annotation {a.get('name')!r}")

    def _save_dashboard(self, *, query, body):
        body = _object(body)
        dash = body.get("dashboard")
        if not isinstance(dash, dict):
            raise ApiError(400, {"message": "bad request data"})
        title = str(dash.get("title") or "").strip()
        if not title:
            raise ApiError(400, {"message": "Dashboard title cannot be empty", "status": "empty-name"})
        uid = dash.get("uid") or f"d{next(self.state.ids)}"
        _check_uid(uid)
        folder_uid = body.get("folderUid") or ""
        if folder_uid and folder_uid not in self.state.folders:
            raise ApiError(400, {"message": "folder not found", "status": "folder-not-found"})
        self._check_references(dash)
        overwrite = bool(body.get("overwrite"))
        existing = self.state.dashboards.get(uid)
        if existing and not overwrite and dash.get("version") != existing["dashboard"]["version"]:
            raise ApiError(412, {"message": "The dashboard has been changed by someone else",
                                 "status": "version-mismatch"})
        for other_uid, other in list(self.state.dashboards.items()):
            if other_uid != uid and other["folderUid"] == folder_uid and other["dashboard"]["title"] == title:
                if not overwrite:
                    raise ApiError(412, {"message": "A dashboard with the same name in the folder already exists",
                                         "status": "name-exists"})
                del self.state.dashboards[other_uid]
        version = existing["dashboard"]["version"] + 1 if existing else 1
        dash_id = existing["dashboard"]["id"] if existing else next(self.state.ids)
        stored = dict(dash, id=dash_id, uid=uid, version=version, title=title)
        self.state.dashboards[uid] = {"dashboard": stored, "folderUid": folder_uid}
        self.state.versions.setdefault(uid, []).append(stored)
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        return 200, {"id": dash_id, "uid": uid, "url": f"/d/{uid}/{slug}", "status": "success", "version": version,
                     "slug": slug, "folderUid": folder_uid}

    def _get_dashboard(self, uid, *, query, body):
        entry = self.state.dashboards.get(uid)
        if entry is None:
            raise ApiError(404, {"message": "Dashboard not found"})
        folder = self.state.folders.get(entry["folderUid"], {})
        meta = {"type": "db", "canSave": True, "canEdit": True, "provisioned": False,
                "folderUid": entry["folderUid"], "folderTitle": folder.get("title", "General"),
                "folderId": folder.get("id", 0), "version": entry["dashboard"]["version"],
                "slug": re.sub(r"[^a-z0-9]+", "-", entry["dashboard"]["title"].lower()).strip("-")}
        return 200, {"dashboard": entry["dashboard"], "meta": meta}

    def _delete_dashboard(self, uid, *, query, body):
        entry = self.state.dashboards.pop(uid, None)
        if entry is None:
            raise ApiError(404, {"message": "Dashboard not found"})
        return 200, {"title": entry["dashboard"]["title"], "message": "Dashboard deleted",
                     "id": entry["dashboard"]["id"]}

    # --- alert rules ----------------------------------------------------------------------------

    def _validate_rule(self, rule: dict) -> None:
        def bad(message: str):
            raise ApiError(400, {"message": f"invalid alert rule: {message}", "statusCode": 400})

        for name in ("title", "ruleGroup", "folderUID", "condition"):
            if not isinstance(rule.get(name), str) or not rule[name].strip():
                bad(f"{name} is required")
        if rule["folderUID"] not in self.state.folders:
            bad(f"folder {rule['folderUID']!r} does not exist")
        data = rule.get("data")
        if not isinstance(data, list) or not data:
            bad("data must contain at least one query")
        ref_ids = [q.get("refId") for q in data]
        if rule["condition"] not in ref_ids:
            bad(f"condition {rule['condition']!r} is not one of the queries' refIds {ref_ids}")
        if len(set(ref_ids)) != len(ref_ids):
            bad("refIds must be unique")
        for q in data:
            ds = q.get("datasourceUid")
            if not ds:
                bad(f"query {q.get('refId')}: datasourceUid is required")
            if ds != "__expr__" and ds not in self.state.datasources:
                bad(f"query {q.get('refId')}: datasource {ds!r} does not exist")
            model = q.get("model")
            if not isinstance(model, dict):
                bad(f"query {q.get('refId')}: model must be an object")
            if ds == "__expr__" and model.get("expression") not in ref_ids:
                bad(f"expression {q.get('refId')} refers to unknown query {model.get('expression')!r}")
            rtr = q.get("relativeTimeRange") or {}
            if ds != "__expr__" and not (isinstance(rtr.get("from"), int) and isinstance(rtr.get("to"), int)
                                         and rtr["from"] > rtr["to"] >= 0):
                bad(f"query {q.get('refId')}: relativeTimeRange must have from > to >= 0")
        if rule.get("noDataState") not in ("Alerting", "NoData", "OK"):
            bad("noDataState must be Alerting, NoData or OK")
        if rule.get("execErrState") not in ("OK", "Alerting", "Error"):
            bad("execErrState must be OK, Alerting or Error")
        if not isinstance(rule.get("for"), str) or not _DURATION.match(rule["for"]):
            bad("for must be a duration such as 5m")

    def _stored_rule(self, rule: dict, uid: str) -> dict:
        return dict(rule, uid=uid, id=self.state.rules.get(uid, {}).get("id") or next(self.state.ids),
                    orgID=1, provenance="api", updated="2025-01-01T00:00:00Z")

    def _list_rules(self, *, query, body):
        return 200, list(self.state.rules.values())

    def _get_rule(self, uid, *, query, body):
        if uid not in self.state.rules:
            raise ApiError(404, {"message": "rule not found"})
        return 200, self.state.rules[uid]

    def _create_rule(self, *, query, body):
        rule = _object(body)
        uid = rule.get("uid") or f"r{next(self.state.ids)}"
        _check_uid(uid)
        if uid in self.state.rules:
            raise ApiError(409, {"message": f"conflict: alert rule with uid {uid!r} already exists"})
        self._validate_rule(rule)
        self.state.rules[uid] = self._stored_rule(rule, uid)
        self.state.rule_groups.setdefault((rule["folderUID"], rule["ruleGroup"]), 60)
        self.state.rule_writes[uid] = 1
        return 201, self.state.rules[uid]

    def _update_rule(self, uid, *, query, body):
        if uid not in self.state.rules:
            raise ApiError(404, {"message": "rule not found"})
        rule = _object(body)
        self._validate_rule(rule)
        self.state.rules[uid] = self._stored_rule(rule, uid)
        self.state.rule_groups.setdefault((rule["folderUID"], rule["ruleGroup"]), 60)
        self.state.rule_writes[uid] += 1
        return 200, self.state.rules[uid]

    def _delete_rule(self, uid, *, query, body):
        if self.state.rules.pop(uid, None) is None:
            raise ApiError(404, {"message": "rule not found"})
        return 204, None

    def _get_group(self, folder_uid, group, *, query, body):
        if (folder_uid, group) not in self.state.rule_groups:
            raise ApiError(404, {"message": "rule group does not exist"})
        rules = [r for r in self.state.rules.values() if r["folderUID"] == folder_uid and r["ruleGroup"] == group]
        return 200, {"title": group, "folderUid": folder_uid, "interval": self.state.rule_groups[(folder_uid, group)],
                     "rules": rules}

    def _put_group(self, folder_uid, group, *, query, body):
        body = _object(body)
        interval = body.get("interval")
        if not isinstance(interval, int) or interval <= 0 or interval % 10:
            raise ApiError(400, {"message": "invalid rule group: interval must be a positive multiple of 10s"})
        if folder_uid not in self.state.folders:
            raise ApiError(400, {"message": f"folder {folder_uid!r} does not exist"})
        listed = set()
        for rule in body.get("rules") or []:
            rule = dict(rule, folderUID=folder_uid, ruleGroup=group)
            self._validate_rule(rule)
            uid = rule.get("uid") or f"r{next(self.state.ids)}"
            self.state.rules[uid] = self._stored_rule(rule, uid)
            self.state.rule_writes[uid] = self.state.rule_writes.get(uid, 0) + 1
            listed.add(uid)
        for uid in [u for u, r in self.state.rules.items()
                    if r["folderUID"] == folder_uid and r["ruleGroup"] == group and u not in listed]:
            del self.state.rules[uid]  # a rule group PUT replaces the whole group
        self.state.rule_groups[(folder_uid, group)] = interval
        return 200, {"title": group, "folderUid": folder_uid, "interval": interval,
                     "rules": [r for u, r in self.state.rules.items() if u in listed]}

    # --- annotations ----------------------------------------------------------------------------

    def _add_annotation(self, *, query, body):
        body = _object(body)
        dash = self.state.dashboards.get(body.get("dashboardUID") or "")
        if not body.get("text"):
            raise ApiError(400, {"message": "Failed to save annotation"})
        t = body.get("time")
        if t is not None and not isinstance(t, int):
            raise ApiError(400, {"message": "bad request data"})
        # Like Grafana, an unknown dashboardUID silently makes an organization annotation.
        ann = {"id": next(self.state.ids), "dashboardUID": body["dashboardUID"] if dash else "",
               "dashboardId": dash["dashboard"]["id"] if dash else 0, "panelId": body.get("panelId") or 0,
               "time": t or 0, "timeEnd": body.get("timeEnd") or t or 0, "text": body["text"],
               "tags": list(body.get("tags") or []), "type": "annotation"}
        self.state.annotations.append(ann)
        return 200, {"message": "Annotation added", "id": ann["id"]}

    def _annotation_by_id(self, ann_id):
        for a in self.state.annotations:
            if a["id"] == int(ann_id):
                return a
        raise ApiError(404, {"message": "Annotation not found"})

    def _update_annotation(self, ann_id, *, query, body):
        body = _object(body)
        ann = self._annotation_by_id(ann_id)
        t = body.get("time")
        if t is not None and not isinstance(t, int):
            raise ApiError(400, {"message": "bad request data"})
        ann.update(time=t or ann["time"], timeEnd=body.get("timeEnd") or t or ann["timeEnd"],
                   text=body.get("text", ""), tags=list(body.get("tags") or []))
        return 200, {"message": "Annotation updated"}

    def _delete_annotation(self, ann_id, *, query, body):
        self.state.annotations.remove(self._annotation_by_id(ann_id))
        return 200, {"message": "Annotation deleted"}

    def _find_annotations(self, *, query, body):
        def one(name: str) -> str | None:
            return query.get(name, [None])[0]

        out = list(self.state.annotations)
        if one("dashboardUID"):
            out = [a for a in out if a["dashboardUID"] == one("dashboardUID")]
        if one("from"):
            out = [a for a in out if a["timeEnd"] >= int(one("from"))]
        if one("to"):
            out = [a for a in out if a["time"] <= int(one("to"))]
        for tag in query.get("tags", []):
            out = [a for a in out if tag in a["tags"]]
        out.sort(key=lambda a: (-a["time"], -a["id"]))
        return 200, out[: int(one("limit") or 100)]


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, {"message": "bad request data"})
    return body


def _check_uid(uid: Any) -> None:
    if not isinstance(uid, str) or not _UID.match(uid):
        raise ApiError(400, {"message": "uid contains illegal characters", "status": "invalid-uid"})
    if len(uid) > 40:
        raise ApiError(400, {"message": "uid too long, max 40 characters", "status": "invalid-uid"})
