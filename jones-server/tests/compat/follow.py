"""Follows the config a host reads, through a client of original Jones that
knows one nodemap format only, and prints it as one JSON line per change.

    follow.py lines ZK SERVICE HOST   # the PyPI `jones` 0.5.4 client
    follow.py json  ZK SERVICE HOST   # a reader of JSON nodemaps only

`lines` runs `jones.client.JonesClient` from the PyPI `jones` 0.5.4 package,
the last release that parses only ` -> ` lines. That release was written
for Python 2: here it gets `collections.Mapping` back and Python 2's text
strings for znode data, and nothing else is changed. A nodemap it cannot
parse is printed as `{"nodemap_error": ...}`.

`json` reads the nodemap as upstream Jones does since 0.6 (`json.loads`,
then the host's view), without its fallback to lines, so a lines nodemap is
an error for it.
"""

import collections
import collections.abc
import json
import sys
import threading

from kazoo.client import KazooClient
from kazoo.recipe.watchers import DataWatch


def emit(value):
    sys.stdout.write(json.dumps(value, sort_keys=True) + "\n")
    sys.stdout.flush()


class TextKazooClient(KazooClient):
    """Hands znode data out as text, as Python 2's kazoo did."""

    def get(self, path, watch=None):
        data, stat = super().get(path, watch)
        return data.decode("utf-8"), stat


def follow_with_jones_0_5_4(zk, service, host):
    collections.Mapping = collections.abc.Mapping
    from jones.client import JonesClient

    nodemap, _ = zk.get("/services/%s/nodemaps" % service)
    try:
        JonesClient._deserialize_nodemap(nodemap)
    except Exception as e:  # what the client's watch would raise
        emit({"nodemap_error": "%s: %s" % (type(e).__name__, e)})
        return
    JonesClient(zk, service, cb=emit, hostname=host)


def follow_json_nodemap(zk, service, host):
    root_view = "/services/%s/views" % service
    pointed = {"path": None}
    watched = {}

    def on_nodemap(data, stat):
        if stat is None:
            return
        try:
            path = json.loads(data or "{}").get(host, root_view)
        except ValueError as e:
            emit({"nodemap_error": "%s: %s" % (type(e).__name__, e)})
            return
        pointed["path"] = path
        if path in watched:
            if watched[path] is not None:
                emit(watched[path])
        else:
            watched[path] = None
            DataWatch(zk, path, view_watcher(path))

    # kazoo passes the event too to callbacks of three parameters: bind the
    # path in a closure of two.
    def view_watcher(path):
        return lambda data, stat: on_view(path, data, stat)

    def on_view(path, data, stat):
        if stat is None:
            return
        watched[path] = json.loads(data)
        if pointed["path"] == path:
            emit(watched[path])

    DataWatch(zk, "/services/%s/nodemaps" % service, on_nodemap)


def main():
    mode, hosts, service, host = sys.argv[1:5]
    zk = TextKazooClient(hosts=hosts)
    zk.start(timeout=20)
    if mode == "lines":
        follow_with_jones_0_5_4(zk, service, host)
    else:
        follow_json_nodemap(zk, service, host)
    threading.Event().wait()


if __name__ == "__main__":
    main()
