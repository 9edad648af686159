"""The shopping list itself: plain Python, no web framework, no MCP.

Keeping the business logic here means the HTTP routes in main.py and the
MCP tools in mcp_server.py share one list instead of each keeping a copy.
"""


class ShoppingListService:
    """An in-memory shopping list. It starts with a few items so a demo has something to show."""

    def __init__(self) -> None:
        self._items: list[dict] = [
            {"name": "milk", "quantity": 2, "purchased": False},
            {"name": "bread", "quantity": 1, "purchased": False},
            {"name": "apples", "quantity": 6, "purchased": False},
        ]

    def get_items(self) -> list[dict]:
        # A copy, so callers cannot change the list behind our back.
        return [dict(item) for item in self._items]

    def add_item(self, name: str, quantity: int = 1) -> dict:
        item = {"name": name, "quantity": quantity, "purchased": False}
        self._items.append(item)
        return dict(item)

    def mark_purchased(self, name: str) -> dict | None:
        for item in self._items:
            if item["name"].lower() == name.lower():
                item["purchased"] = True
                return dict(item)
        return None


# One list for the whole process: main.py and mcp_server.py both import this.
shopping_list = ShoppingListService()
