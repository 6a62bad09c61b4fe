"""A first pyworkers program: the standard library, a writable /tmp, and asyncio, with no JavaScript engine."""

import asyncio
import json
import platform
import sys


async def greet(name, delay):
    await asyncio.sleep(delay)
    return f"hello, {name}"


async def main():
    return await asyncio.gather(greet("wasmtime", 0.01), greet("pyodide", 0))


with open("/tmp/greetings.json", "w") as f:
    json.dump(asyncio.run(main()), f)

with open("/tmp/greetings.json") as f:
    for line in json.load(f):
        print(line)

print(f"Python {platform.python_version()} on {sys.platform}, argv={sys.argv[1:]}")
