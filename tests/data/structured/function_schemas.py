# OpenAI strict-mode function-calling parameter schemas for schemas.jsonl (make_schemas.py):
# what a tool-using client sends as `parameters`.
# Strict mode: every object has additionalProperties false and lists all its properties in
# `required`; an optional value is nullable instead (a type array with "null", or anyOf with
# {"type": "null"}).


def S(max_length=None, **kw):
    s = {"type": "string", **kw}
    if max_length:
        s["maxLength"] = max_length
    return s


def I(lo=None, hi=None, **kw):  # noqa: E743
    s = {"type": "integer", **kw}
    if lo is not None:
        s["minimum"] = lo
    if hi is not None:
        s["maximum"] = hi
    return s


def E(*values, **kw):
    return {"type": "string", "enum": list(values), **kw}


def N(schema):
    """Nullable, the strict-mode way: a type array for a plain type, anyOf otherwise."""
    if isinstance(schema.get("type"), str) and schema["type"] != "object" and "enum" not in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def A(items, lo=None, hi=None):
    s = {"type": "array", "items": items}
    if lo is not None:
        s["minItems"] = lo
    if hi is not None:
        s["maxItems"] = hi
    return s


def O(**props):  # noqa: E741
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


EMAIL = S(format="email")
DATE = S(format="date")
DATETIME = S(format="date-time")
AIRPORT = S(pattern=r"^[A-Z]{3}$", description="IATA airport code")
CURRENCY = S(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
LANG = E("en", "fr", "de", "es", "it", "ja")

FUNCTIONS = [
    ("get_current_weather", "Get the current weather in Paris.",
     O(location=S(60, description="City and country, e.g. Paris, France"),
       unit=E("celsius", "fahrenheit"))),
    ("get_forecast", "Get a three-day forecast for Tokyo.",
     O(city=S(40), days=I(1, 7), include_hourly={"type": "boolean"})),
    ("search_flights", "Find flights from Boston to Lisbon next month for two people.",
     O(origin=AIRPORT, destination=AIRPORT, departure_date=DATE, return_date=N(DATE),
       passengers=I(1, 9), cabin=E("economy", "premium_economy", "business", "first"))),
    ("book_hotel", "Book a hotel room in Rome for two nights.",
     O(hotel_id=S(pattern=r"^H\d{4,6}$"), check_in=DATE, check_out=DATE, guests=I(1, 6),
       special_requests=N(S(100)))),
    ("send_email", "Email Alice that the meeting moved to Friday.",
     O(to=EMAIL, cc=A(EMAIL, 0, 2), subject=S(80), body=S(200))),
    ("create_calendar_event", "Schedule a design review tomorrow at 3pm.",
     O(title=S(60), start=DATETIME, duration_minutes=I(5, 480), attendees=A(EMAIL, 0, 3),
       location=N(S(60)))),
    ("set_reminder", "Remind me to water the plants.",
     O(text=S(80), remind_at=DATETIME, repeat=E("none", "daily", "weekly", "monthly"))),
    ("lookup_stock_price", "What is Apple's share price?",
     O(ticker=S(pattern=r"^[A-Z]{1,5}$"), exchange=E("NYSE", "NASDAQ", "LSE"))),
    ("convert_currency", "Convert 100 euros to dollars.",
     O(amount={"type": "number"}, from_currency=CURRENCY, to_currency=CURRENCY)),
    ("translate_text", "Translate 'good morning' into French.",
     O(text=S(200), source_language=LANG, target_language=LANG)),
    ("run_sql_query", "Count the users who signed up this week.",
     O(query=S(200), database=E("analytics", "production", "staging"), limit=I(1, 100))),
    ("create_github_issue", "Open a bug report about the login page crashing.",
     O(repo=S(pattern=r"^[\w.-]{1,20}/[\w.-]{1,20}$"), title=S(80), body=N(S(200)),
       labels=A(E("bug", "enhancement", "documentation", "question"), 0, 3),
       assignee=N(S(pattern=r"^[A-Za-z0-9-]{1,20}$")))),
    ("order_pizza", "Order a large pepperoni pizza to 12 Main St, Springfield 12345.",
     O(size=E("small", "medium", "large"),
       toppings=A(E("pepperoni", "mushrooms", "onions", "olives", "extra cheese"), 0, 3),
       crust=E("thin", "regular", "stuffed"),
       delivery_address=O(street=S(60), city=S(40), zip=S(pattern=r"^\d{5}$")),
       notes=N(S(100)))),
    ("get_directions", "How do I walk from the station to the museum?",
     O(origin=S(60), destination=S(60), mode=E("driving", "walking", "bicycling", "transit"),
       avoid=A(E("tolls", "highways", "ferries"), 0, 3))),
    ("set_thermostat", "Make the bedroom a bit warmer.",
     O(room=E("living_room", "bedroom", "kitchen", "office"), temperature_c=I(10, 30),
       mode=E("heat", "cool", "auto", "off"))),
    ("play_music", "Play some jazz in the kitchen.",
     O(query=S(60), shuffle={"type": "boolean"}, volume=I(0, 100),
       device=N(E("kitchen_speaker", "living_room_tv", "phone")))),
    ("add_to_cart", "Add two of SKU-12345 to my cart.",
     O(product_id=S(pattern=r"^SKU-\d{5}$"), quantity=I(1, 10), gift_wrap={"type": "boolean"})),
    ("schedule_meeting", "Set up a meeting with Bob and Carol next Tuesday morning.",
     O(participants=A(O(name=S(40), email=EMAIL, role=E("organizer", "required", "optional")),
                      1, 3),
       time_slot=O(start=DATETIME, end=DATETIME), agenda=N(S(120)))),
    ("create_user", "Create an account for jdoe.",
     O(username=S(pattern=r"^[a-z][a-z0-9_]{2,15}$"), email=EMAIL, age=N(I(13, 120)),
       roles=A(E("viewer", "editor", "admin"), 1, 3),
       address=N(O(city=S(40), country=S(pattern=r"^[A-Z]{2}$"))))),
    ("file_operation", "Delete the file /tmp/old.log.",
     O(operation=E("read", "write", "delete", "move"), path=S(pattern=r"^/[\w./-]{0,60}$"),
       content=N(S(200)), overwrite={"type": "boolean"})),
    ("web_search", "Search the web for the tallest building in Europe.",
     O(query=S(100), num_results=I(1, 10), safe_search=E("off", "moderate", "strict"),
       site=N(S(pattern=r"^[a-z0-9.-]{1,40}\.[a-z]{2,6}$")))),
    ("calculate", "What is 17 times 23?",
     O(expression=S(60), precision=I(0, 10))),
    ("set_alarm", "Wake me at 6:30 on weekdays.",
     O(time=S(format="time"), label=N(S(40)),
       days=A(E("mon", "tue", "wed", "thu", "fri", "sat", "sun"), 0, 3))),
    ("get_news", "Latest technology news from Germany.",
     O(topic=E("world", "business", "technology", "sports", "science"),
       country=S(pattern=r"^[a-z]{2}$"), page_size=I(1, 20))),
    ("extract_contact_info", "Extract the contact from: 'Call Dana at 555-0100'.",
     O(name=S(40), phone={"anyOf": [S(pattern=r"^[0-9+() -]{7,20}$"), {"type": "null"}]},
       email={"type": ["string", "null"], "format": "email"})),
    ("refund_order", "Refund order ORD-123456, the item arrived broken.",
     O(order_id=S(pattern=r"^ORD-\d{6}$"),
       reason=E("damaged", "not_as_described", "late", "other"),
       amount_cents=I(1, 100000), notify_customer={"type": "boolean"})),
    ("update_ticket", "Close ticket 4711 as resolved.",
     O(ticket_id=I(1, 999999), status=E("open", "pending", "resolved", "closed"),
       priority=E("low", "normal", "high", "urgent"), comment=N(S(120)))),
    ("generate_image", "Draw a cat astronaut.",
     O(prompt=S(150), size=E("256x256", "512x512", "1024x1024"), n=I(1, 4),
       style=N(E("vivid", "natural")))),
    ("book_restaurant", "A table for four tonight at 8.",
     O(restaurant=S(60), date=DATE, time=S(format="time"), party_size=I(1, 12),
       seating=E("indoor", "outdoor", "bar"))),
    ("track_package", "Where is my UPS parcel 1Z999AA10123456784?",
     O(carrier=E("ups", "fedex", "usps", "dhl"), tracking_number=S(pattern=r"^[A-Z0-9]{10,20}$"))),
    ("log_workout", "I ran for 30 minutes this morning.",
     O(activity=E("running", "cycling", "swimming", "walking", "yoga"), duration_minutes=I(1, 300),
       calories=N(I(0, 3000)), date=DATE)),
    ("create_invoice", "Invoice ACME for 3 hours of consulting.",
     O(customer=O(name=S(60), email=EMAIL),
       line_items=A(O(description=S(60), quantity=I(1, 1000), unit_price={"type": "number"}),
                    1, 3),
       due_date=DATE, currency=E("USD", "EUR", "GBP"))),
    ("scale_deployment", "Scale the web deployment in prod to 5 replicas.",
     O(deployment=S(pattern=r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$"),
       namespace=S(pattern=r"^[a-z0-9-]{1,30}$"), replicas=I(0, 20))),
    ("query_database", "Find orders over 100 dollars from Berlin.",
     O(table=E("orders", "customers", "products"),
       filters=A(O(field=E("total", "city", "status", "created"),
                   operator=E("eq", "neq", "gt", "lt"),
                   value={"type": ["string", "number", "boolean"]}), 0, 3),
       order_by=N(E("total", "created")), limit=I(1, 50))),
    ("get_user_location", "Where is 8.8.8.8?", O(ip=S(format="ipv4"))),
    ("open_url", "Open the Python documentation.",
     O(url=S(format="uri", maxLength=100), new_tab={"type": "boolean"})),
    ("define_word", "Define 'serendipity'.",
     O(word=S(pattern=r"^[A-Za-z-]{1,30}$"), language=LANG)),
    ("set_rate_limit", "Limit /api/search to 60 requests a minute.",
     O(endpoint=S(pattern=r"^/api/[a-z/]{1,30}$"), requests_per_minute=I(1, 10000),
       burst=I(1, 100))),
    ("moderate_content", "Moderate the message: 'have a nice day'.",
     O(is_violating={"type": "boolean"},
       category=N(E("violence", "harassment", "self_harm", "spam")),
       explanation_if_violating=N(S(100)))),
    ("extract_paper", "Extract the metadata of a research paper on protein folding.",
     O(title=S(80), authors=A(S(40), 1, 3), abstract=S(200), keywords=A(S(20), 0, 3))),
    ("math_reasoning", "Solve 8x + 7 = -23.",
     O(steps=A(O(explanation=S(100), output=S(40)), 1, 3), final_answer=S(20))),
    ("assign_uuid", "Tag the record with a new identifier.",
     O(record_id=S(format="uuid"), created=DATETIME, tags=A(S(20), 0, 3))),
    ("ping_host", "Ping 192.168.1.1 four times.",
     O(host=S(format="ipv4"), count=I(1, 10), timeout_ms=I(100, 10000))),
]

# OpenAI's documented recursive examples: `$ref: "#"` to the root, and a recursive $defs.
UI_COMPONENT = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["div", "button", "header", "section", "field", "form"]},
        "label": {"type": "string", "maxLength": 30},
        "children": {"type": "array", "items": {"$ref": "#"}, "maxItems": 3},
        "attributes": {"type": "array", "maxItems": 2, "items": {
            "type": "object",
            "properties": {"name": {"type": "string", "maxLength": 20},
                           "value": {"type": "string", "maxLength": 20}},
            "required": ["name", "value"], "additionalProperties": False}},
    },
    "required": ["type", "label", "children", "attributes"],
    "additionalProperties": False,
}
LINKED_LIST = {
    "type": "object",
    "properties": {"linked_list": {"$ref": "#/$defs/linked_list_node"}},
    "$defs": {"linked_list_node": {
        "type": "object",
        "properties": {"value": {"type": "number"},
                       "next": {"anyOf": [{"$ref": "#/$defs/linked_list_node"}, {"type": "null"}]}},
        "additionalProperties": False, "required": ["next", "value"]}},
    "additionalProperties": False, "required": ["linked_list"],
}


def function_schemas():
    out = [(f"fn_{name}", schema, prompt) for name, prompt, schema in FUNCTIONS]
    out.append(("fn_ui_component_recursive", UI_COMPONENT, "Make a login form UI."))
    out.append(("fn_linked_list_recursive", LINKED_LIST, "A linked list of three numbers."))
    return out
