"""The gateway alone, in front of an engine it does not run (the overhead benchmark's subject):

    LLAMA_API_KEY=ENGINE_KEY python -m heavylift.gateway.front --engine-url http://127.0.0.1:PORT --port 8080

The engine's key comes from LLAMA_API_KEY (as llama-server itself reads it), clients' keys from
HEAVYLIFT_SERVE_API_KEY; neither is ever on a command line. Prints the base URL when ready."""

from __future__ import annotations

import argparse
import sys

from heavylift import settings
from heavylift.engines.credentials import ENGINE_KEY_VAR, serve_api_keys
from heavylift.errors import HeavyliftError
from heavylift.gateway.app import GatewayConfig, create_app
from heavylift.gateway.server import _serve, bind_public, public_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heavylift.gateway.front")
    parser.add_argument("--engine-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    try:
        keys = serve_api_keys()
        sock = bind_public(args.host, args.port, keys)
        app = create_app(GatewayConfig(engine_base_url=args.engine_url,
                                       engine_api_key=settings.get(ENGINE_KEY_VAR), keys=keys))
        _serve(app, sock, None, lambda: print(public_url(args.host, args.port), flush=True))
    except HeavyliftError as e:
        print(f"front: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
