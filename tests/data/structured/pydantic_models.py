# Pydantic v2 models whose model_json_schema() goes into schemas.jsonl (make_schemas.py):
# what an application's own types look like to a structured-output API. Nested models come
# out as $defs/$ref, Optional[X] as anyOf [X, null], Enum and Literal as enum/const, lists with
# min/max length as minItems/maxItems, dict[str, X] as additionalProperties, constrained
# strings and ints as pattern/minLength/maxLength and minimum/maximum, date/time/UUID/IPv4/URL
# as formats, self-referencing models as recursive $refs. Every list is bounded or optional,
# so a small instance exists.
# NOTE: no float bounds (a grammar cannot enforce minimum on non-integers), no set/frozenset
# (uniqueItems), no Decimal (its pattern uses a lookahead), no timedelta ("duration").
from datetime import date, datetime, time
from enum import Enum, IntEnum
from ipaddress import IPv4Address
from typing import Annotated, Any, Literal, Optional, Union
from uuid import UUID

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, HttpUrl, StringConstraints

Str = Annotated[str, StringConstraints(max_length=40)]


def bounded(lo=None, hi=None):
    return Annotated[int, Field(ge=lo, le=hi)]


MODELS = []  # (name, model class, prompt)


def model(name, prompt):
    def register(cls):
        MODELS.append((name, cls, prompt))
        return cls
    return register


@model("pyd_person", "A person with a name and an age.")
class Person(BaseModel):
    name: Str
    age: bounded(0, 130)
    email: Optional[str] = None


class Address(BaseModel):
    street: Str
    city: Str
    postal_code: Annotated[str, StringConstraints(pattern=r"^\d{5}$")]
    country: Literal["US", "CA", "MX"] = "US"


@model("pyd_customer", "A customer record with an address.")
class Customer(BaseModel):
    id: UUID
    name: Str
    address: Address
    tags: list[Str] = Field(default_factory=list, max_length=3)


class Color(str, Enum):
    red = "red"
    green = "green"
    blue = "blue"


class Size(str, Enum):
    S = "S"
    M = "M"
    L = "L"
    XL = "XL"


@model("pyd_shirt", "A shirt in the catalogue.")
class Shirt(BaseModel):
    size: Size
    color: Color
    price_cents: bounded(0)


class OrderStatus(str, Enum):
    pending = "pending"
    shipped = "shipped"
    delivered = "delivered"
    cancelled = "cancelled"


class OrderItem(BaseModel):
    sku: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}-\d{3}$")]
    quantity: bounded(1, 10)


@model("pyd_order", "An order of one to three items.")
class Order(BaseModel):
    order_id: Annotated[str, StringConstraints(pattern=r"^ORD-\d{6}$")]
    items: list[OrderItem] = Field(min_length=1, max_length=3)
    status: OrderStatus
    created_at: datetime


@model("pyd_tree_node", "A small tree of integers.")
class TreeNode(BaseModel):
    value: int
    children: list["TreeNode"] = Field(default_factory=list, max_length=3)


@model("pyd_comment_thread", "A comment with replies.")
class Comment(BaseModel):
    author: Str
    text: Annotated[str, StringConstraints(max_length=80)]
    replies: list["Comment"] = Field(default_factory=list, max_length=2)


@model("pyd_linked_list", "A linked list of words.")
class LinkedListNode(BaseModel):
    value: Str
    next: Optional["LinkedListNode"] = None


@model("pyd_filesystem_entry", "A file or a directory.")
class FileSystemEntry(BaseModel):
    name: Annotated[str, StringConstraints(pattern=r"^[\w.-]{1,32}$")]
    kind: Literal["file", "dir"]
    size: Optional[bounded(0)] = None
    entries: Optional[list["FileSystemEntry"]] = Field(default=None, max_length=3)


@model("pyd_event", "An event on a calendar.")
class Event(BaseModel):
    title: Str
    day: date
    start: time
    location: Optional[Str] = None


@model("pyd_meeting", "A meeting between colleagues.")
class Meeting(BaseModel):
    start: datetime
    end: datetime
    attendees: list[Annotated[str, StringConstraints(
        pattern=r"^[a-z]{1,12}@[a-z]{1,12}\.(?:com|org)$")]] = Field(max_length=3)


@model("pyd_inventory", "Stock counts per product.")
class Inventory(BaseModel):
    warehouse: Str
    counts: dict[str, bounded(0)]


@model("pyd_translations", "A phrase translated into a few languages.")
class Translations(BaseModel):
    source: Literal["en", "fr", "de", "es"]
    texts: dict[str, Annotated[str, StringConstraints(max_length=60)]]


class Point(BaseModel):
    x: int
    y: int


@model("pyd_triangle", "A triangle given by its corners.")
class Triangle(BaseModel):
    points: list[Point] = Field(min_length=3, max_length=3)


@model("pyd_place", "A place with coordinates.")
class Place(BaseModel):
    name: Str
    location: tuple[float, float]


@model("pyd_rgb_color", "A colour as red, green and blue.")
class RgbColor(BaseModel):
    name: Str
    rgb: tuple[bounded(0, 255), bounded(0, 255), bounded(0, 255)]


class Cat(BaseModel):
    pet_type: Literal["cat"]
    meows: bounded(0, 100)


class Dog(BaseModel):
    pet_type: Literal["dog"]
    barks: bounded(0, 100)


@model("pyd_pet_owner", "A pet owner and their pet.")
class Owner(BaseModel):
    name: Str
    pet: Union[Cat, Dog] = Field(discriminator="pet_type")


@model("pyd_union_value", "A setting whose value is a number, a word or a flag.")
class Setting(BaseModel):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,20}$")]
    value: Union[int, Str, bool]


@model("pyd_user_settings", "A user's display settings.")
class UserSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    theme: Literal["light", "dark"]
    font_size: bounded(8, 32)
    notifications: bool


@model("pyd_product", "A product for sale.")
class Product(BaseModel):
    name: Str
    price: float
    currency: Literal["USD", "EUR", "GBP"]
    in_stock: bool
    rating: Optional[bounded(1, 5)] = None


class Author(BaseModel):
    name: Str
    twitter: Optional[Annotated[str, StringConstraints(pattern=r"^@\w{1,15}$")]] = None


@model("pyd_blog_post", "A blog post.")
class BlogPost(BaseModel):
    title: Annotated[str, StringConstraints(min_length=5, max_length=60)]
    slug: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=40)]
    published: bool
    tags: list[Str] = Field(default_factory=list, max_length=3)
    author: Author


@model("pyd_http_request", "An HTTP request.")
class HttpRequest(BaseModel):
    method: Literal["GET", "POST", "PUT", "DELETE", "PATCH"]
    url: AnyUrl
    headers: dict[str, Str] = Field(default_factory=dict)
    body: Optional[Annotated[str, StringConstraints(max_length=100)]] = None


@model("pyd_server_config", "A server's listen address.")
class ServerConfig(BaseModel):
    host: IPv4Address
    port: bounded(1, 65535)
    debug: bool = False


@model("pyd_user_profile", "A user profile.")
class UserProfile(BaseModel):
    user_id: UUID
    username: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{2,15}$")]
    joined: date
    website: Optional[HttpUrl] = None


class Unit(str, Enum):
    gram = "g"
    kilogram = "kg"
    millilitre = "ml"
    litre = "l"
    piece = "pc"


class Ingredient(BaseModel):
    name: Str
    amount: float
    unit: Unit


@model("pyd_recipe", "A short recipe.")
class Recipe(BaseModel):
    title: Str
    servings: bounded(1, 12)
    ingredients: list[Ingredient] = Field(min_length=1, max_length=3)
    steps: list[Annotated[str, StringConstraints(max_length=80)]] = Field(min_length=1,
                                                                          max_length=3)


class Genre(str, Enum):
    drama = "drama"
    comedy = "comedy"
    horror = "horror"
    documentary = "documentary"
    science_fiction = "science fiction"


@model("pyd_movie", "A film.")
class Movie(BaseModel):
    title: Str
    year: bounded(1888, 2030)
    genres: list[Genre] = Field(max_length=3)
    rating: float


class Wind(BaseModel):
    speed_kmh: bounded(0, 300)
    direction: Literal["N", "NE", "E", "SE", "S", "SW", "W", "NW"]


@model("pyd_weather_report", "A weather report for a city.")
class WeatherReport(BaseModel):
    city: Str
    temperature_c: float
    condition: Literal["sunny", "cloudy", "rain", "snow", "fog"]
    wind: Wind


class InvoiceLine(BaseModel):
    description: Str
    quantity: bounded(1, 100)
    unit_price_cents: bounded(0)


@model("pyd_invoice", "An invoice.")
class Invoice(BaseModel):
    number: Annotated[str, StringConstraints(pattern=r"^INV-\d{4}$")]
    issued: date
    due: date
    lines: list[InvoiceLine] = Field(min_length=1, max_length=3)
    total_cents: bounded(0)


@model("pyd_employee_chain", "An employee and their manager.")
class Employee(BaseModel):
    name: Str
    title: Str
    manager: Optional["Employee"] = None


class Priority(IntEnum):
    low = 1
    medium = 2
    high = 3


@model("pyd_todo_task", "A task on a to-do list.")
class TodoTask(BaseModel):
    id: bounded(1)
    title: Str
    done: bool
    priority: Priority
    due: Optional[date] = None


@model("pyd_chess_move", "A chess move.")
class ChessMove(BaseModel):
    from_square: Annotated[str, StringConstraints(pattern=r"^[a-h][1-8]$")]
    to_square: Annotated[str, StringConstraints(pattern=r"^[a-h][1-8]$")]
    promotion: Optional[Literal["q", "r", "b", "n"]] = None


@model("pyd_matrix", "A small integer matrix.")
class Matrix(BaseModel):
    rows: list[Annotated[list[int], Field(min_length=1, max_length=3)]] = Field(min_length=1,
                                                                                max_length=3)


@model("pyd_sentiment", "The sentiment of a sentence.")
class Sentiment(BaseModel):
    label: Literal["positive", "negative", "neutral"]
    confidence: float


class Entity(BaseModel):
    text: Str
    type: Literal["PERSON", "ORG", "LOCATION", "DATE"]
    start: bounded(0)
    end: bounded(0)


@model("pyd_named_entities", "Named entities found in a sentence.")
class Entities(BaseModel):
    entities: list[Entity] = Field(max_length=3)


@model("pyd_classification", "A support ticket classification.")
class Classification(BaseModel):
    category: Literal["billing", "technical", "account", "other"]
    reasoning: Annotated[str, StringConstraints(max_length=100)]


@model("pyd_book", "A book.")
class Book(BaseModel):
    isbn: Annotated[str, StringConstraints(pattern=r"^97[89]-\d{10}$")]
    title: Str
    authors: list[Str] = Field(min_length=1, max_length=3)
    published_year: bounded(1450, 2030)


class PointGeometry(BaseModel):
    type: Literal["Point"]
    coordinates: tuple[float, float]


@model("pyd_geojson_feature", "A GeoJSON point feature.")
class Feature(BaseModel):
    type: Literal["Feature"]
    geometry: PointGeometry
    properties: dict[str, Str]


@model("pyd_money", "An amount of money.")
class Money(BaseModel):
    amount_minor: int
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


@model("pyd_semver", "A semantic version.")
class SemVer(BaseModel):
    major: bounded(0, 99)
    minor: bounded(0, 99)
    patch: bounded(0, 99)
    prerelease: Optional[Annotated[str, StringConstraints(
        pattern=r"^(?:alpha|beta|rc)\.\d{1,2}$")]] = None


class Level(str, Enum):
    debug = "DEBUG"
    info = "INFO"
    warning = "WARNING"
    error = "ERROR"


@model("pyd_log_entry", "A structured log line.")
class LogEntry(BaseModel):
    timestamp: datetime
    level: Level
    message: Annotated[str, StringConstraints(max_length=120)]
    context: dict[str, Union[Str, int, bool]] = Field(default_factory=dict)


class Airport(BaseModel):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    time: datetime


@model("pyd_flight", "A flight between two airports.")
class Flight(BaseModel):
    flight_number: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}\d{1,4}$")]
    departure: Airport
    arrival: Airport


class Answer(BaseModel):
    question_id: bounded(1, 50)
    choice: Literal["a", "b", "c", "d"]


@model("pyd_survey_response", "A survey response.")
class SurveyResponse(BaseModel):
    respondent_id: UUID
    answers: list[Answer] = Field(min_length=1, max_length=3)


class Phone(BaseModel):
    kind: Literal["home", "work", "mobile"]
    number: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{7,15}$")]


@model("pyd_contact", "A contact card.")
class Contact(BaseModel):
    name: Str
    phones: list[Phone] = Field(max_length=2)


@model("pyd_aliased_fields", "A person with camelCase field names.")
class AliasedPerson(BaseModel):
    first_name: Str = Field(alias="firstName")
    last_name: Str = Field(alias="lastName")
    birth_date: Optional[date] = Field(default=None, alias="birthDate")


@model("pyd_profile_optional_address", "A profile that may have an address.")
class Profile(BaseModel):
    display_name: Str
    address: Optional[Address] = None
    verified: bool = False


@model("pyd_metadata_any", "A document with free-form metadata.")
class Document(BaseModel):
    doc_id: Annotated[str, StringConstraints(pattern=r"^doc_[0-9a-f]{8}$")]
    metadata: dict[str, Any] = Field(default_factory=dict)


@model("pyd_bank_transaction", "A bank transaction.")
class BankTransaction(BaseModel):
    amount_cents: bounded(1)
    kind: Literal["debit", "credit"]
    iban: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}\d{2}[A-Z0-9]{4,16}$")]
    booked_on: date


@model("pyd_greek_letters", "Μια απάντηση με ελληνικά γράμματα.")
class GreekAnswer(BaseModel):
    γράμμα: Literal["α", "β", "γ", "δ"] = Field(description="ένα ελληνικό γράμμα")
    λέξη: Annotated[str, StringConstraints(pattern=r"^[α-ω]{2,8}$")]


class Dish(str, Enum):
    cafe = "café"
    naive = "naïve"
    creme = "crème brûlée"
    jalapeno = "jalapeño"


@model("pyd_accented_enum", "A dish on a French-ish menu.")
class MenuChoice(BaseModel):
    dish: Dish
    note: Optional[Annotated[str, StringConstraints(pattern=r"^[A-Za-zÀ-ÿ ]{1,30}$")]] = None


class CharacterClass(str, Enum):
    warrior = "warrior"
    mage = "mage"
    rogue = "rogue"


class Stats(BaseModel):
    strength: bounded(1, 20)
    dexterity: bounded(1, 20)
    intelligence: bounded(1, 20)


@model("pyd_game_character", "A role-playing game character.")
class GameCharacter(BaseModel):
    name: Str
    character_class: CharacterClass = Field(alias="class")
    level: bounded(1, 99)
    stats: Stats
    inventory: list[Str] = Field(default_factory=list, max_length=3)


class Step(BaseModel):
    explanation: Annotated[str, StringConstraints(max_length=80)]
    output: Str


@model("pyd_math_solution", "The solution of 2x + 3 = 7, step by step.")
class MathSolution(BaseModel):
    steps: list[Step] = Field(min_length=1, max_length=3)
    final_answer: int


class TimeSlot(BaseModel):
    start: time
    end: time


@model("pyd_availability", "Free time slots on a day.")
class Availability(BaseModel):
    day: date
    slots: list[TimeSlot] = Field(max_length=3)


class ShipmentStatus(str, Enum):
    label_created = "label_created"
    in_transit = "in_transit"
    out_for_delivery = "out_for_delivery"
    delivered = "delivered"


class TrackingEvent(BaseModel):
    at: datetime
    status: ShipmentStatus


@model("pyd_shipment", "A parcel's tracking record.")
class Shipment(BaseModel):
    tracking_number: Annotated[str, StringConstraints(pattern=r"^1Z[0-9A-Z]{16}$")]
    status: ShipmentStatus
    history: list[TrackingEvent] = Field(default_factory=list, max_length=2)


class Condition(BaseModel):
    column: Literal["id", "name", "age", "city"]
    op: Literal["=", "<", ">", "!="]
    value: Union[int, Str]


@model("pyd_query_plan", "A simple database query.")
class Query(BaseModel):
    table: Literal["users", "orders", "products"]
    columns: list[Literal["id", "name", "age", "city", "total"]] = Field(min_length=1, max_length=3)
    where: Optional[Condition] = None
    limit: Optional[bounded(1, 100)] = None


@model("pyd_feedback", "Customer feedback.")
class Feedback(BaseModel):
    rating: bounded(1, 5)
    would_recommend: bool
    comment: Optional[Annotated[str, StringConstraints(max_length=100)]] = None


@model("pyd_binary_tree", "A binary tree of integers.")
class BinaryTree(BaseModel):
    value: int
    left: Optional["BinaryTree"] = None
    right: Optional["BinaryTree"] = None


@model("pyd_hex_color_palette", "A palette of web colours.")
class Palette(BaseModel):
    name: Str
    colors: list[Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]] = Field(
        min_length=1, max_length=3)


@model("pyd_time_range", "A time range in a day.")
class TimeRange(BaseModel):
    opens: time
    closes: time
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        min_length=1, max_length=3)


@model("pyd_api_key", "An API key record.")
class ApiKey(BaseModel):
    key_id: UUID
    prefix: Annotated[str, StringConstraints(pattern=r"^sk-[A-Za-z0-9]{4}$")]
    scopes: list[Literal["read", "write", "admin"]] = Field(min_length=1, max_length=3)
    expires_at: Optional[datetime] = None


@model("pyd_network_interface", "A network interface.")
class NetworkInterface(BaseModel):
    name: Annotated[str, StringConstraints(pattern=r"^(?:eth|wlan|en)\d{1,2}$")]
    ipv4: IPv4Address
    netmask_bits: bounded(0, 32)
    mac: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$")]
    up: bool


@model("pyd_student_grades", "A student's grades.")
class StudentGrades(BaseModel):
    student: Str
    grades: dict[str, Annotated[int, Field(ge=0, le=100)]]
    passed: bool


class Card(BaseModel):
    rank: Literal["A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K"]
    suit: Literal["hearts", "diamonds", "clubs", "spades"]


@model("pyd_poker_hand", "A hand of two playing cards.")
class Hand(BaseModel):
    cards: list[Card] = Field(min_length=2, max_length=2)


@model("pyd_url_shortener", "A short link.")
class ShortLink(BaseModel):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{6}$")]
    target: HttpUrl
    clicks: bounded(0)


class Variant(BaseModel):
    sku: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{4,8}$")]
    color: Optional[Color] = None
    size: Optional[Size] = None


@model("pyd_product_variants", "A product with variants.")
class VariantProduct(BaseModel):
    name: Str
    variants: list[Variant] = Field(min_length=1, max_length=3)


@model("pyd_nested_optional_union", "A measurement that may be missing.")
class Measurement(BaseModel):
    sensor: Annotated[str, StringConstraints(pattern=r"^S\d{3}$")]
    reading: Optional[Union[int, float]] = None
    unit: Optional[Literal["C", "F", "K"]] = None
