"""FastAPI with pydantic models and a Jinja2 template, served through the ASGI adapter.

- `GET /` → an HTML page rendered by Jinja2 (autoescaped);
- `POST /items` with `{"name": str, "price": float, "tags": [str]}` → the validated item, 201; a body that does
  not validate → FastAPI's 422 with pydantic's errors;
- `GET /items/{id}` → `{"id": int}`, 422 when `id` is not an integer;
- `GET /env` → a var from the config, through `scope["env"]`.
"""

from pathlib import Path

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from workers import WorkerEntrypoint, asgi

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
)

app = FastAPI()


class Item(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    tags: list[str] = []


ITEMS = [Item(name="tea", price=3.5), Item(name="cake", price=4.25)]


@app.get("/", response_class=HTMLResponse)
async def index(request: Request):
    env = request.scope["env"]
    return templates.get_template("index.html").render(
        title="FastAPI on pyworkers", greeting=env.GREETING, items=ITEMS, note="<escaped & safe>"
    )


@app.post("/items", status_code=201)
async def create_item(item: Item) -> Item:
    return item


@app.get("/items/{item_id}")
async def read_item(item_id: int):
    return {"id": item_id}


@app.get("/env")
async def env(request: Request):
    return {"greeting": request.scope["env"].GREETING}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await asgi.fetch(app, request, self.env)
