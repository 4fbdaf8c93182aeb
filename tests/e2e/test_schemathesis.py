# Property-based testing of the HTTP API against its own /openapi.json with schemathesis
# (issue 16): for every operation, schemathesis generates bodies that fit the schema and
# bodies that break it (its coverage phase walks each field's boundaries and wrong types;
# its fuzzing phase draws at random), sends them to a live `kiln serve`, and checks that
#   - no response is a server error (5xx),
#   - every status code, content type, header and body is one the document declares;
#   - a route that declares the API key refuses a request without it.
# It does not demand that every schema-valid body be accepted nor every invalid one refused
# (positive_data_acceptance / negative_data_rejection): the server checks more than a schema
# says (the prompt must fit the context, n at most --max-num-seqs, a tool_choice naming a
# declared tool) and, like OpenAI's API, treats null as absent and ignores unknown fields.
#
# Bounded for CI: a small context (--max-model-len 256), and schemathesis_hooks.py clamps the
# token counts a generated body asks for, so a run takes about a minute on 2 cores.
import os
import re
import shutil
import subprocess
import sys

from kiln_server import KilnServer

API_KEY = "kiln-schemathesis-key"
HERE = os.path.dirname(os.path.abspath(__file__))
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance",
          # Routes that need the key refuse requests without it; the open ones are declared so.
          "ignored_auth"]


def schemathesis_cli():
    path = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    return path if os.path.exists(path) else shutil.which("schemathesis")


def test_every_operation_conforms_to_openapi(kiln_bin, model_path, tmp_path):
    cli = schemathesis_cli()
    assert cli, "schemathesis is not installed (tests/requirements.txt)"
    server = KilnServer(kiln_bin, model_path, tmp_path / "serve.log",
                        extra_args=["--max-model-len", "256", "--max-num-seqs", "4",
                                    "--threads", "2"],
                        api_key=API_KEY)
    try:
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
               "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", ""),
               "KILN_SCHEMATHESIS_MODEL": server.model}
        r = subprocess.run(
            [cli, "run", server.base_url + "/openapi.json",
             "--header", f"Authorization: Bearer {API_KEY}",
             "--checks", ",".join(CHECKS),
             "--phases", "examples,coverage,fuzzing",
             "--max-examples", "25", "--seed", "16", "--workers", "1",
             "--continue-on-failure", "--generation-database", "none",
             "--request-timeout", "60", "--no-color"],
            env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stdout[-20000:] + r.stderr[-5000:]
        # Every operation in the document was exercised.
        selected = re.search(r"Selected: (\d+)/(\d+)", r.stdout)
        tested = re.search(r"Tested: (\d+)", r.stdout)
        assert selected and tested, r.stdout[-3000:]
        assert int(tested.group(1)) == int(selected.group(2)) >= 14, r.stdout[-3000:]
    finally:
        code = server.terminate()
    assert code == 0, server.log()[-5000:]
