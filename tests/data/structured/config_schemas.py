# Configuration-file schemas for schemas.jsonl (make_schemas.py): subsets of real formats
# (package.json, docker-compose, CI workflows, Kubernetes, ...) with $ref/definitions, enums,
# patterns, formats, integer bounds, array bounds, prefixItems, const and oneOf/anyOf. Every
# array is bounded or optional and few properties are required, so instances stay small.

SEMVER = r"^\d{1,3}\.\d{1,3}\.\d{1,3}(?:-[0-9A-Za-z.]{1,12})?$"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

CONFIGS = [
    ("cfg_package_json", "A package.json for a small npm library.", {
        "$schema": DRAFT, "title": "package.json (subset)", "type": "object",
        "properties": {
            "name": {"type": "string", "pattern": r"^(?:@[a-z0-9-]{1,20}/)?[a-z0-9][a-z0-9._-]{0,30}$"},
            "version": {"$ref": "#/definitions/semver"},
            "description": {"type": "string", "maxLength": 80},
            "private": {"type": "boolean"},
            "license": {"enum": ["MIT", "Apache-2.0", "ISC", "BSD-3-Clause", "UNLICENSED"]},
            "scripts": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 60}},
            "dependencies": {"$ref": "#/definitions/dependencyMap"},
            "engines": {"type": "object", "properties": {"node": {"type": "string", "maxLength": 20}},
                        "additionalProperties": False},
        },
        "required": ["name", "version"],
        "definitions": {
            "semver": {"type": "string", "pattern": SEMVER},
            "dependencyMap": {"type": "object", "additionalProperties": {
                "type": "string", "pattern": r"^[\^~]?\d{1,3}\.\d{1,3}\.\d{1,3}$"}},
        },
    }),
    ("cfg_docker_compose", "A docker-compose file for a web app and a database.", {
        "title": "docker-compose (subset)", "type": "object",
        "properties": {
            "version": {"enum": ["3", "3.8", "3.9"]},
            "services": {"type": "object", "additionalProperties": {"$ref": "#/definitions/service"}},
            "volumes": {"type": "object", "additionalProperties": {"type": "object"}},
        },
        "required": ["services"],
        "definitions": {"service": {
            "type": "object",
            "properties": {
                "image": {"type": "string", "pattern": r"^[a-z0-9./-]{1,40}(?::[A-Za-z0-9._-]{1,20})?$"},
                "ports": {"type": "array", "items": {"type": "string", "pattern": r"^\d{2,5}:\d{2,5}$"}, "maxItems": 3},
                "environment": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 40}},
                "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
                "depends_on": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3},
            },
            "required": ["image"], "additionalProperties": False,
        }},
    }),
    ("cfg_github_actions", "A GitHub Actions workflow that runs the tests on push.", {
        "title": "GitHub Actions workflow (subset)", "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 40},
            "on": {"anyOf": [{"$ref": "#/$defs/event"},
                             {"type": "array", "items": {"$ref": "#/$defs/event"}, "minItems": 1, "maxItems": 3}]},
            "jobs": {"type": "object", "additionalProperties": {"$ref": "#/$defs/job"}},
        },
        "required": ["on", "jobs"],
        "$defs": {
            "event": {"enum": ["push", "pull_request", "workflow_dispatch", "schedule"]},
            "job": {"type": "object",
                    "properties": {
                        "runs-on": {"enum": ["ubuntu-latest", "macos-latest", "windows-latest"]},
                        "timeout-minutes": {"type": "integer", "minimum": 1, "maximum": 360},
                        "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}, "minItems": 1, "maxItems": 3}},
                    "required": ["runs-on", "steps"], "additionalProperties": False},
            "step": {"anyOf": [
                {"type": "object", "properties": {
                    "uses": {"type": "string", "pattern": r"^[\w.-]{1,20}/[\w.-]{1,20}@v\d{1,2}$"},
                    "with": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 30}}},
                 "required": ["uses"], "additionalProperties": False},
                {"type": "object", "properties": {"name": {"type": "string", "maxLength": 40},
                                                  "run": {"type": "string", "maxLength": 80}},
                 "required": ["run"], "additionalProperties": False}]},
        },
    }),
    ("cfg_gitlab_ci", "A .gitlab-ci.yml with a build and a test job.", {
        "type": "object",
        "properties": {
            "stages": {"type": "array", "items": {"enum": ["build", "test", "deploy"]}, "minItems": 1, "maxItems": 3},
            "image": {"type": "string", "maxLength": 40},
            "build": {"$ref": "#/$defs/job"},
            "test": {"$ref": "#/$defs/job"},
        },
        "required": ["stages", "build"],
        "$defs": {"job": {"type": "object",
                          "properties": {"stage": {"enum": ["build", "test", "deploy"]},
                                         "script": {"type": "array", "items": {"type": "string", "maxLength": 60}, "minItems": 1, "maxItems": 3},
                                         "only": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 2},
                                         "allow_failure": {"type": "boolean"}},
                          "required": ["stage", "script"], "additionalProperties": False}},
    }),
    ("cfg_tsconfig", "A tsconfig.json for a Node project.", {
        "type": "object",
        "properties": {
            "compilerOptions": {"type": "object", "properties": {
                "target": {"enum": ["ES5", "ES2015", "ES2020", "ES2022", "ESNext"]},
                "module": {"enum": ["CommonJS", "ESNext", "NodeNext"]},
                "strict": {"type": "boolean"},
                "outDir": {"type": "string", "pattern": r"^\.?/?[\w./-]{1,30}$"},
                "paths": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string", "maxLength": 30}, "minItems": 1, "maxItems": 2}},
            }, "additionalProperties": False},
            "include": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 3},
            "exclude": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 3},
        },
        "required": ["compilerOptions"],
    }),
    ("cfg_eslintrc", "An .eslintrc.json.", {
        "type": "object",
        "properties": {
            "root": {"type": "boolean"},
            "extends": {"anyOf": [{"type": "string", "maxLength": 40},
                                  {"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 3}]},
            "rules": {"type": "object", "additionalProperties": {"$ref": "#/$defs/rule"}},
        },
        "required": ["rules"],
        "$defs": {
            "level": {"enum": ["off", "warn", "error", 0, 1, 2]},
            "rule": {"anyOf": [{"$ref": "#/$defs/level"},
                               {"type": "array", "prefixItems": [{"$ref": "#/$defs/level"}],
                                "items": {"type": ["string", "object"]}, "minItems": 1, "maxItems": 2}]},
        },
    }),
    ("cfg_k8s_deployment", "A Kubernetes Deployment for nginx.", {
        "type": "object",
        "properties": {
            "apiVersion": {"const": "apps/v1"},
            "kind": {"const": "Deployment"},
            "metadata": {"$ref": "#/$defs/metadata"},
            "spec": {"type": "object", "properties": {
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
                "selector": {"type": "object", "properties": {"matchLabels": {"$ref": "#/$defs/labels"}}},
                "template": {"type": "object", "properties": {
                    "metadata": {"$ref": "#/$defs/metadata"},
                    "spec": {"type": "object", "properties": {"containers": {
                        "type": "array", "minItems": 1, "maxItems": 2, "items": {
                            "type": "object",
                            "properties": {"name": {"$ref": "#/$defs/dnsLabel"},
                                           "image": {"type": "string", "maxLength": 40},
                                           "ports": {"type": "array", "maxItems": 2, "items": {
                                               "type": "object", "properties": {"containerPort": {"type": "integer", "minimum": 1, "maximum": 65535}},
                                               "required": ["containerPort"]}}},
                            "required": ["name", "image"]}}}}}}},
                "required": ["replicas"]},
        },
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "$defs": {
            "dnsLabel": {"type": "string", "pattern": r"^[a-z0-9](?:[-a-z0-9]{0,30}[a-z0-9])?$"},
            "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 30}},
            "metadata": {"type": "object", "properties": {"name": {"$ref": "#/$defs/dnsLabel"},
                                                          "labels": {"$ref": "#/$defs/labels"}},
                         "required": ["name"]},
        },
    }),
    ("cfg_k8s_service", "A Kubernetes Service exposing port 80.", {
        "type": "object",
        "properties": {
            "apiVersion": {"const": "v1"}, "kind": {"const": "Service"},
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "pattern": r"^[a-z0-9-]{1,30}$"}}, "required": ["name"]},
            "spec": {"type": "object", "properties": {
                "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                "ports": {"type": "array", "minItems": 1, "maxItems": 2, "items": {
                    "type": "object",
                    "properties": {"port": {"type": "integer", "minimum": 1, "maximum": 65535},
                                   "targetPort": {"type": ["integer", "string"]},
                                   "protocol": {"enum": ["TCP", "UDP"]}},
                    "required": ["port"], "additionalProperties": False}}},
                "required": ["ports"]},
        },
        "required": ["apiVersion", "kind", "metadata", "spec"],
    }),
    ("cfg_nginx_site", "An nginx site that proxies /api to a backend.", {
        "type": "object",
        "properties": {
            "listen": {"type": "integer", "minimum": 1, "maximum": 65535},
            "server_name": {"type": "array", "items": {"type": "string", "pattern": r"^[a-z0-9.-]{1,40}$"}, "minItems": 1, "maxItems": 2},
            "locations": {"type": "array", "maxItems": 3, "items": {
                "type": "object",
                "properties": {"path": {"type": "string", "pattern": r"^/[\w/.-]{0,30}$"},
                               "proxy_pass": {"type": "string", "format": "uri", "maxLength": 60},
                               "root": {"type": "string", "maxLength": 40}},
                "required": ["path"], "additionalProperties": False}},
            "ssl": {"type": "boolean"},
        },
        "required": ["listen", "server_name"], "additionalProperties": False,
    }),
    ("cfg_pyproject", "A pyproject.toml as JSON for a small package.", {
        "type": "object",
        "properties": {
            "project": {"type": "object", "properties": {
                "name": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,30}$"},
                "version": {"type": "string", "pattern": r"^\d{1,3}\.\d{1,3}(?:\.\d{1,3})?$"},
                "requires-python": {"type": "string", "pattern": r"^>=3\.\d{1,2}$"},
                "dependencies": {"type": "array", "items": {"type": "string", "maxLength": 30}, "maxItems": 3},
            }, "required": ["name", "version"]},
            "build-system": {"type": "object", "properties": {
                "requires": {"type": "array", "items": {"type": "string", "maxLength": 30}, "minItems": 1, "maxItems": 2},
                "build-backend": {"enum": ["setuptools.build_meta", "hatchling.build", "flit_core.buildapi", "poetry.core.masonry.api"]},
            }, "required": ["requires", "build-backend"]},
        },
        "required": ["project"],
    }),
    ("cfg_cargo_toml", "A Cargo.toml as JSON.", {
        "type": "object",
        "properties": {
            "package": {"type": "object", "properties": {
                "name": {"type": "string", "pattern": r"^[a-z][a-z0-9_-]{0,30}$"},
                "version": {"type": "string", "pattern": SEMVER},
                "edition": {"enum": ["2015", "2018", "2021", "2024"]}},
                "required": ["name", "version", "edition"], "additionalProperties": False},
            "dependencies": {"type": "object", "additionalProperties": {"anyOf": [
                {"type": "string", "pattern": r"^\d{1,3}(?:\.\d{1,3}){0,2}$"},
                {"type": "object", "properties": {"version": {"type": "string", "maxLength": 12},
                                                  "features": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3}},
                 "required": ["version"], "additionalProperties": False}]}},
        },
        "required": ["package"],
    }),
    ("cfg_openapi_info", "The top of an OpenAPI document.", {
        "type": "object",
        "properties": {
            "openapi": {"type": "string", "pattern": r"^3\.\d\.\d$"},
            "info": {"type": "object", "properties": {"title": {"type": "string", "maxLength": 40},
                                                      "version": {"type": "string", "maxLength": 12},
                                                      "contact": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}},
                     "required": ["title", "version"]},
            "servers": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {
                "url": {"type": "string", "format": "uri", "maxLength": 60},
                "description": {"type": "string", "maxLength": 40}}, "required": ["url"]}},
            "paths": {"type": "object", "additionalProperties": {"type": "object"}},
        },
        "required": ["openapi", "info", "paths"],
    }),
    ("cfg_python_logging", "A Python logging dictConfig.", {
        "type": "object",
        "properties": {
            "version": {"const": 1},
            "disable_existing_loggers": {"type": "boolean"},
            "handlers": {"type": "object", "additionalProperties": {
                "type": "object", "properties": {"class": {"enum": ["logging.StreamHandler", "logging.FileHandler"]},
                                                 "level": {"$ref": "#/$defs/level"},
                                                 "filename": {"type": "string", "maxLength": 40}},
                "required": ["class"], "additionalProperties": False}},
            "root": {"type": "object", "properties": {"level": {"$ref": "#/$defs/level"},
                                                      "handlers": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3}},
                     "required": ["level"]},
        },
        "required": ["version"],
        "$defs": {"level": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]}},
    }),
    ("cfg_database", "Database connection settings.", {
        "type": "object",
        "properties": {
            "host": {"type": "string", "format": "ipv4"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "database": {"type": "string", "pattern": r"^[a-z_][a-z0-9_]{0,30}$"},
            "user": {"type": "string", "minLength": 1, "maxLength": 30},
            "password": {"type": "string", "minLength": 8, "maxLength": 32},
            "pool": {"type": "object", "properties": {"min": {"type": "integer", "minimum": 0, "maximum": 10},
                                                      "max": {"type": "integer", "minimum": 1, "maximum": 100}},
                     "required": ["min", "max"], "additionalProperties": False},
            "sslmode": {"enum": ["disable", "require", "verify-ca", "verify-full"]},
        },
        "required": ["host", "port", "database", "user", "password"], "additionalProperties": False,
    }),
    ("cfg_feature_flags", "Feature flags for a web app.", {
        "type": "object",
        "properties": {"flags": {"type": "object", "additionalProperties": {"$ref": "#/$defs/flag"}},
                       "updated": {"type": "string", "format": "date-time"}},
        "required": ["flags"],
        "$defs": {"flag": {"type": "object",
                           "properties": {"enabled": {"type": "boolean"},
                                          "rollout_percent": {"type": "integer", "minimum": 0, "maximum": 100},
                                          "variants": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3}},
                           "required": ["enabled"], "additionalProperties": False}},
    }),
    ("cfg_cron_job", "A cron job that backs up the database nightly.", {
        "type": "object",
        "properties": {
            "schedule": {"type": "string",
                         "pattern": r"^(?:\*|[0-5]?\d)(?:/\d{1,2})? (?:\*|[01]?\d|2[0-3]) (?:\*|[1-9]|[12]\d|3[01]) (?:\*|[1-9]|1[0-2]) (?:\*|[0-6])$"},
            "command": {"type": "string", "maxLength": 80},
            "enabled": {"type": "boolean"},
            "timezone": {"enum": ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]},
        },
        "required": ["schedule", "command"], "additionalProperties": False,
    }),
    ("cfg_terraform_variable", "A Terraform variable definition.", {
        "type": "object",
        "properties": {
            "type": {"enum": ["string", "number", "bool", "list(string)", "map(string)"]},
            "description": {"type": "string", "maxLength": 80},
            "default": {"type": ["string", "number", "boolean", "array", "null"], "items": {"type": "string", "maxLength": 20}, "maxItems": 3},
            "sensitive": {"type": "boolean"},
            "nullable": {"type": "boolean"},
        },
        "required": ["type"], "additionalProperties": False,
    }),
    ("cfg_prometheus_scrape", "A Prometheus scrape configuration.", {
        "type": "object",
        "properties": {
            "global": {"type": "object", "properties": {"scrape_interval": {"$ref": "#/$defs/duration"}}},
            "scrape_configs": {"type": "array", "minItems": 1, "maxItems": 2, "items": {
                "type": "object",
                "properties": {"job_name": {"type": "string", "pattern": r"^[a-z_]{1,20}$"},
                               "scrape_interval": {"$ref": "#/$defs/duration"},
                               "static_configs": {"type": "array", "maxItems": 2, "items": {
                                   "type": "object", "properties": {"targets": {
                                       "type": "array", "minItems": 1, "maxItems": 3,
                                       "items": {"type": "string", "pattern": r"^[a-z0-9.-]{1,30}:\d{2,5}$"}}},
                                   "required": ["targets"]}}},
                "required": ["job_name", "static_configs"]}},
        },
        "required": ["scrape_configs"],
        "$defs": {"duration": {"type": "string", "pattern": r"^\d{1,4}[smh]$"}},
    }),
    ("cfg_dependabot", "A dependabot.yml as JSON.", {
        "type": "object",
        "properties": {
            "version": {"const": 2},
            "updates": {"type": "array", "minItems": 1, "maxItems": 2, "items": {
                "type": "object",
                "properties": {"package-ecosystem": {"enum": ["npm", "pip", "cargo", "github-actions", "docker"]},
                               "directory": {"type": "string", "pattern": r"^/[\w/.-]{0,30}$"},
                               "schedule": {"type": "object", "properties": {"interval": {"enum": ["daily", "weekly", "monthly"]}},
                                            "required": ["interval"], "additionalProperties": False},
                               "open-pull-requests-limit": {"type": "integer", "minimum": 0, "maximum": 20}},
                "required": ["package-ecosystem", "directory", "schedule"], "additionalProperties": False}},
        },
        "required": ["version", "updates"],
    }),
    ("cfg_editorconfig", "Editor settings per file type.", {
        "type": "object",
        "properties": {"root": {"type": "boolean"},
                       "sections": {"type": "object", "additionalProperties": {
                           "type": "object",
                           "properties": {"indent_style": {"enum": ["space", "tab"]},
                                          "indent_size": {"type": "integer", "minimum": 1, "maximum": 8},
                                          "end_of_line": {"enum": ["lf", "crlf", "cr"]},
                                          "charset": {"enum": ["utf-8", "latin1", "utf-16be"]},
                                          "trim_trailing_whitespace": {"type": "boolean"}},
                           "additionalProperties": False}}},
        "required": ["root", "sections"],
    }),
    ("cfg_vscode_settings", "VS Code user settings.", {
        "type": "object",
        "properties": {
            "editor.fontSize": {"type": "integer", "minimum": 6, "maximum": 72},
            "editor.tabSize": {"type": "integer", "minimum": 1, "maximum": 8},
            "editor.wordWrap": {"enum": ["off", "on", "wordWrapColumn", "bounded"]},
            "files.exclude": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "workbench.colorTheme": {"type": "string", "maxLength": 30},
        },
        "additionalProperties": False,
    }),
    ("cfg_helm_values", "A Helm values.yaml as JSON.", {
        "type": "object",
        "properties": {
            "replicaCount": {"type": "integer", "minimum": 1, "maximum": 10},
            "image": {"type": "object", "properties": {
                "repository": {"type": "string", "maxLength": 40},
                "tag": {"type": "string", "pattern": r"^[\w.-]{1,20}$"},
                "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]}},
                "required": ["repository"], "additionalProperties": False},
            "service": {"type": "object", "properties": {"type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                                                         "port": {"type": "integer", "minimum": 1, "maximum": 65535}},
                        "required": ["type", "port"]},
            "resources": {"type": "object", "properties": {"limits": {"type": "object", "properties": {
                "cpu": {"type": "string", "pattern": r"^\d{1,4}m$"},
                "memory": {"type": "string", "pattern": r"^\d{1,4}(?:Mi|Gi)$"}}, "additionalProperties": False}}},
        },
        "required": ["image"],
    }),
    ("cfg_ansible_playbook", "An Ansible play that installs nginx.", {
        "type": "object",
        "properties": {
            "hosts": {"type": "string", "maxLength": 30},
            "become": {"type": "boolean"},
            "tasks": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"anyOf": [
                {"type": "object", "properties": {"name": {"type": "string", "maxLength": 40},
                                                  "apt": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 30},
                                                                                           "state": {"enum": ["present", "absent", "latest"]}},
                                                          "required": ["name"], "additionalProperties": False}},
                 "required": ["name", "apt"], "additionalProperties": False},
                {"type": "object", "properties": {"name": {"type": "string", "maxLength": 40},
                                                  "service": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 30},
                                                                                               "state": {"enum": ["started", "stopped", "restarted"]}},
                                                              "required": ["name", "state"], "additionalProperties": False}},
                 "required": ["name", "service"], "additionalProperties": False}]}},
        },
        "required": ["hosts", "tasks"],
    }),
    ("cfg_systemd_unit", "A systemd service unit as JSON.", {
        "type": "object",
        "properties": {
            "Unit": {"type": "object", "properties": {"Description": {"type": "string", "maxLength": 60},
                                                      "After": {"type": "array", "items": {"type": "string", "pattern": r"^[\w@.-]{1,30}\.(?:target|service)$"}, "maxItems": 2}},
                     "required": ["Description"]},
            "Service": {"type": "object", "properties": {"ExecStart": {"type": "string", "pattern": r"^/[\S]{1,40}(?: [\S]{1,20}){0,3}$"},
                                                         "Restart": {"enum": ["no", "on-failure", "always"]},
                                                         "User": {"type": "string", "pattern": r"^[a-z_][a-z0-9_-]{0,15}$"}},
                        "required": ["ExecStart"]},
            "Install": {"type": "object", "properties": {"WantedBy": {"enum": ["multi-user.target", "default.target"]}}},
        },
        "required": ["Unit", "Service"],
    }),
    ("cfg_babel", "A babel.config.json.", {
        "type": "object",
        "properties": {
            "presets": {"type": "array", "maxItems": 3, "items": {"anyOf": [
                {"type": "string", "maxLength": 30},
                {"type": "array", "prefixItems": [{"type": "string", "maxLength": 30}, {"type": "object"}],
                 "minItems": 2, "maxItems": 2}]}},
            "plugins": {"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 3},
            "sourceMaps": {"enum": [True, False, "inline", "both"]},
        },
        "required": ["presets"],
    }),
    ("cfg_jest", "A jest.config.json.", {
        "type": "object",
        "properties": {
            "testEnvironment": {"enum": ["node", "jsdom"]},
            "testMatch": {"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 2},
            "coverageThreshold": {"type": "object", "properties": {"global": {
                "type": "object", "properties": {k: {"type": "integer", "minimum": 0, "maximum": 100}
                                                 for k in ("branches", "functions", "lines")},
                "additionalProperties": False}}},
            "verbose": {"type": "boolean"},
        },
        "required": ["testEnvironment"],
    }),
    ("cfg_web_manifest", "A web app manifest.", {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 40},
            "short_name": {"type": "string", "maxLength": 12},
            "start_url": {"type": "string", "pattern": r"^[/.][\w/.?=&-]{0,30}$"},
            "display": {"enum": ["fullscreen", "standalone", "minimal-ui", "browser"]},
            "theme_color": {"type": "string", "pattern": r"^#[0-9a-fA-F]{6}$"},
            "icons": {"type": "array", "maxItems": 2, "items": {
                "type": "object",
                "properties": {"src": {"type": "string", "maxLength": 40},
                               "sizes": {"type": "string", "pattern": r"^\d{2,4}x\d{2,4}$"},
                               "type": {"enum": ["image/png", "image/svg+xml", "image/webp"]}},
                "required": ["src", "sizes"], "additionalProperties": False}},
        },
        "required": ["name", "start_url", "display"],
    }),
    ("cfg_circleci", "A CircleCI config with one job.", {
        "type": "object",
        "properties": {
            "version": {"const": 2.1},
            "jobs": {"type": "object", "additionalProperties": {
                "type": "object",
                "properties": {"docker": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                                   "type": "object", "properties": {"image": {"type": "string", "maxLength": 40}}, "required": ["image"]}},
                               "steps": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"anyOf": [
                                   {"const": "checkout"},
                                   {"type": "object", "properties": {"run": {"type": "string", "maxLength": 60}},
                                    "required": ["run"], "additionalProperties": False}]}}},
                "required": ["docker", "steps"]}},
        },
        "required": ["version", "jobs"],
    }),
    ("cfg_backup_policy", "A nightly backup policy.", {
        "type": "object",
        "properties": {
            "start_time": {"type": "string", "format": "time"},
            "retention_days": {"type": "integer", "minimum": 1, "maximum": 365},
            "targets": {"type": "array", "minItems": 1, "maxItems": 2, "items": {
                "type": "object", "properties": {"host": {"type": "string", "format": "ipv4"},
                                                 "path": {"type": "string", "pattern": r"^/[\w/.-]{0,30}$"}},
                "required": ["host", "path"], "additionalProperties": False}},
            "notify": {"type": "string", "format": "email"},
        },
        "required": ["start_time", "retention_days", "targets"], "additionalProperties": False,
    }),
    ("cfg_tls_certificate", "A TLS certificate summary.", {
        "type": "object",
        "properties": {
            "serial": {"type": "string", "pattern": r"^[0-9A-F]{2}(?::[0-9A-F]{2}){3,7}$"},
            "subject": {"type": "string", "maxLength": 60},
            "not_before": {"type": "string", "format": "date-time"},
            "not_after": {"type": "string", "format": "date-time"},
            "san": {"type": "array", "items": {"type": "string", "maxLength": 40}, "minItems": 1, "maxItems": 3},
            "key_type": {"enum": ["RSA-2048", "RSA-4096", "EC-P256", "Ed25519"]},
        },
        "required": ["serial", "not_after", "san"],
    }),
    ("cfg_dns_records", "DNS records for a domain.", {
        "type": "object",
        "properties": {
            "zone": {"type": "string", "pattern": r"^[a-z0-9-]{1,30}\.[a-z]{2,6}$"},
            "records": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"oneOf": [
                {"type": "object", "properties": {"type": {"const": "A"},
                                                  "name": {"type": "string", "maxLength": 30},
                                                  "address": {"type": "string", "format": "ipv4"},
                                                  "ttl": {"type": "integer", "minimum": 60, "maximum": 86400}},
                 "required": ["type", "name", "address"], "additionalProperties": False},
                {"type": "object", "properties": {"type": {"const": "CNAME"},
                                                  "name": {"type": "string", "maxLength": 30},
                                                  "target": {"type": "string", "maxLength": 40},
                                                  "ttl": {"type": "integer", "minimum": 60, "maximum": 86400}},
                 "required": ["type", "name", "target"], "additionalProperties": False},
                {"type": "object", "properties": {"type": {"const": "MX"},
                                                  "priority": {"type": "integer", "minimum": 0, "maximum": 100},
                                                  "exchange": {"type": "string", "maxLength": 40}},
                 "required": ["type", "priority", "exchange"], "additionalProperties": False}]}},
        },
        "required": ["zone", "records"],
    }),
]
