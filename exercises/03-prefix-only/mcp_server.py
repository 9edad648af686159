"""The MCP server: it exposes the shopping list to agents as tools.

mcp 2.x calls this class MCPServer; tutorials written for mcp 1.x call it
FastMCP (`from mcp.server.fastmcp import FastMCP`). Same idea, new name.
"""

from mcp.server import MCPServer

from shopping_list import shopping_list

# log_level="WARNING": building an MCPServer configures the root logger
# (logging.basicConfig); at INFO every library's chatter would fill the output.
mcp = MCPServer("Shopping List", log_level="WARNING")


@mcp.tool()
def get_items() -> list[dict]:
    """Return every item on the shopping list, with its quantity and whether it was bought."""
    return shopping_list.get_items()


@mcp.tool()
def add_item(name: str, quantity: int = 1) -> dict:
    """Add an item to the shopping list."""
    return shopping_list.add_item(name, quantity)


@mcp.tool()
def mark_purchased(name: str) -> str:
    """Mark an item on the shopping list as bought."""
    item = shopping_list.mark_purchased(name)
    if item is None:
        return f"There is no {name!r} on the shopping list."
    return f"Marked {item['name']} as purchased."
