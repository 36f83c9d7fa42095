"""Prints every text frame of a WebSocket session on its own line, then `CLOSED <code> <reason>`
when the server ends the session. Used by the end-to-end tests as a client written elsewhere."""

import sys

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def main(url: str) -> int:
    with connect(url, open_timeout=10, max_size=2**20) as ws:
        try:
            for message in ws:
                print(message, flush=True)
        except ConnectionClosed:
            pass
        received = ws.protocol.close_rcvd
        if received is None:
            print("CLOSED none", flush=True)
        else:
            print(f"CLOSED {received.code} {received.reason}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
