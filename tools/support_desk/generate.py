#!/usr/bin/python3
"""Synthetic customer-support conversations for the support-desk task model (stdlib only).

Each conversation: a system prompt with store policies, user turns that state order facts (some
corrected later), distractor turns (small talk and look-alike entities), and a final question whose
reference answer is a fact value (short) or a 3-5 sentence summary/instruction (long).

Deterministic from --seed. Splits are disjoint by seed and by (product, city) combination: the
combination's CRC32 bucket decides which split may use it.

    /usr/bin/python3 tools/support_desk/generate.py --split test --n 300 --seed 3 --out test.jsonl
"""
import argparse
import json
import random
import sys
import zlib

STORES = ["Northwind", "Bluebird", "Maple Market", "Cedar Goods", "Harbor Supply", "Sunrise Shop",
          "Pine Outlet", "Riverstone", "Oak and Iron", "Lumen Store", "Brightway", "Copper Lane"]
NAMES = ["Alice", "Bruno", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas",
         "Karin", "Liam", "Maya", "Nadia", "Oscar", "Paula", "Quentin", "Rosa", "Samir", "Tara",
         "Umar", "Vera", "Walter", "Xenia", "Yusuf", "Zoe", "Marco", "Lena", "Ivan", "Sofia"]
CITIES = ["Paris", "Lyon", "Berlin", "Munich", "Madrid", "Seville", "Rome", "Milan", "Vienna",
          "Prague", "Warsaw", "Lisbon", "Porto", "Dublin", "London", "Leeds", "Oslo", "Bergen",
          "Stockholm", "Helsinki", "Athens", "Zurich", "Geneva", "Brussels", "Ghent", "Amsterdam",
          "Utrecht", "Copenhagen", "Budapest", "Krakow", "Toronto", "Boston", "Denver", "Austin",
          "Seattle", "Chicago", "Miami", "Dallas", "Phoenix", "Portland"]
COLORS = ["red", "blue", "green", "black", "white", "grey", "yellow", "silver", "orange", "purple"]
ITEMS = ["kettle", "lamp", "backpack", "jacket", "blender", "toaster", "headphones", "chair",
         "desk", "umbrella", "watch", "camera", "speaker", "keyboard", "mouse", "monitor", "scarf",
         "teapot", "mirror", "helmet", "tent", "bicycle", "drill", "vase", "pillow"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
ISSUES = ["arrived damaged", "is the wrong size", "never arrived", "stopped working",
          "is missing a part", "came in the wrong color"]
RETURN_DAYS = [14, 21, 30, 45, 60, 90]
REFUND_DAYS = [3, 5, 7, 10]
HOURS = [("8 am", "6 pm"), ("9 am", "5 pm"), ("7 am", "9 pm"), ("10 am", "8 pm")]

SPLIT_BUCKETS = {"train": set(range(8)), "dev": {8}, "test": {9}}


def combo_bucket(product, city):
    return zlib.crc32(f"{product}|{city}".encode()) % 10


class Facts:
    """The values one conversation is about, sampled so the split's combination rule holds."""

    def __init__(self, rng, split):
        buckets = SPLIT_BUCKETS[split]
        while True:
            self.product = f"{rng.choice(COLORS)} {rng.choice(ITEMS)}"
            self.city = rng.choice(CITIES)
            if combo_bucket(self.product, self.city) in buckets:
                break
        self.name = rng.choice(NAMES)
        self.order = str(rng.randint(10000, 99999))
        self.quantity = str(rng.randint(1, 9))
        self.date = f"{rng.choice(MONTHS)} {rng.randint(1, 28)}"
        # The total is quantity x unit price, so "how much was each one?" needs a division: the one
        # question type the small model answers with low margins (what int4 and temperature move).
        self.unit_price = f"${rng.randint(5, 99)}"
        self.amount = f"${int(self.quantity) * int(self.unit_price[1:])}"
        self.issue = rng.choice(ISSUES)
        self.store = rng.choice(STORES)
        self.return_days = f"{rng.choice(RETURN_DAYS)} days"
        self.refund_days = f"{rng.choice(REFUND_DAYS)} business days"
        self.hours = rng.choice(HOURS)


def other(rng, pool, avoid):
    while True:
        v = rng.choice(pool)
        if v != avoid:
            return v


# Fact-stating user turns; each returns (text, slots stated).
def state_name(rng, f):
    return rng.choice([f"Hi, my name is {f.name}.", f"Hello, this is {f.name} writing.",
                       f"Good morning, I am {f.name}."]), ["name"]


def state_order(rng, f):
    return rng.choice([f"My order number is {f.order}.", f"The order number is {f.order}.",
                       f"I am writing about order {f.order}."]), ["order"]


def state_product(rng, f):
    return rng.choice([f"I bought {f.quantity} {f.product} from you.",
                       f"I ordered {f.quantity} {f.product} last month.",
                       f"The order was for {f.quantity} {f.product}."]), ["product", "quantity"]


def state_city(rng, f):
    return rng.choice([f"It should be delivered to {f.city}.", f"The shipping address is in {f.city}.",
                       f"I live in {f.city}, that is where it goes."]), ["city"]


def state_date(rng, f):
    return rng.choice([f"I placed the order on {f.date}.", f"The order date was {f.date}.",
                       f"I bought it on {f.date}."]), ["date"]


def state_amount(rng, f):
    return rng.choice([f"I paid {f.amount} in total.", f"The total was {f.amount}.",
                       f"It cost me {f.amount}."]), ["amount"]


def state_issue(rng, f):
    return rng.choice([f"The problem is that it {f.issue}.", f"Sadly the item {f.issue}.",
                       f"I am contacting you because it {f.issue}."]), ["issue"]


STATERS = [state_name, state_order, state_product, state_city, state_date, state_amount, state_issue]

ACKS = {
    "name": lambda f: f"Nice to meet you, {f.name}. How can I help?",
    "order": lambda f: f"Thank you, I have found order {f.order}.",
    "product": lambda f: f"Noted, {f.quantity} {f.product}.",
    "city": lambda f: f"Thanks, the delivery city is {f.city}.",
    "date": lambda f: f"Got it, the order was placed on {f.date}.",
    "amount": lambda f: f"Thank you, the total was {f.amount}.",
    "issue": lambda f: f"I am sorry to hear that it {f.issue}.",
}
GENERIC_ACKS = ["Thank you, noted.", "Understood, thanks.", "Okay, I have written that down.",
                "Thanks for the detail.", "All right, go on."]


def distractor(rng, f):
    kind = rng.randrange(6)
    if kind == 0:
        city = other(rng, CITIES, f.city)
        return (f"My sister lives in {city}, she also likes your store.",
                f"That is nice, we ship to {city} too.")
    if kind == 1:
        prod = f"{rng.choice(COLORS)} {rng.choice(ITEMS)}"
        return (f"Last year I bought a {prod} and it was great.",
                "I am glad you enjoyed it.")
    if kind == 2:
        return ("Is it going to rain this weekend?",
                "I am not sure about the weather, sorry.")
    if kind == 3:
        num = str(rng.randint(10000, 99999))
        return (f"My old customer number was {num}, if that helps.",
                "Thanks, I will use the order number instead.")
    if kind == 4:
        return ("Do you sell gift cards?", "Yes, gift cards are sold in our online store.")
    return (f"I also have a coupon worth ${rng.randint(5, 50)} for next time.",
            "Great, you can use it on your next order.")


CORRECTIONS = {
    "city": ("city", lambda rng, f: other(rng, CITIES, f.city),
             lambda v: f"Sorry, I moved. Please send it to {v} instead.",
             lambda v: f"No problem, I changed the delivery city to {v}."),
    "quantity": ("quantity", lambda rng, f: other(rng, [str(i) for i in range(1, 10)], f.quantity),
                 lambda v: f"Correction, I actually ordered {v} of them.",
                 lambda v: f"Thanks, I updated the quantity to {v}."),
}

SHORT_QUESTIONS = {
    "order": ["What is my order number?", "Can you repeat my order number?",
              "Which order number did I give you?"],
    "city": ["Which city is my order going to?", "Where will the package be delivered?",
             "What is the delivery city?"],
    "product": ["What did I order?", "Which product did I buy?", "What item is this about?"],
    "quantity": ["How many did I order?", "How many items were in my order?"],
    "date": ["When did I place the order?", "What was the order date?"],
    "amount": ["How much did I pay?", "What was the total of my order?"],
    "name": ["What is my name?", "Do you remember my name?"],
    "unit_price": ["How much did each one cost?", "What was the price per item?"],
    "return_days": ["How long do I have to return an item?", "What is the return window?"],
    "refund_days": ["How long does a refund take?", "How soon will I get my refund?"],
}
LONG_QUESTIONS = {
    "summary": ["Can you summarize my order?", "Please give me a summary of my order."],
    "return": ["How do I return the item?", "What are the steps to return it?"],
}


def long_answer(kind, f):
    if kind == "summary":
        text = (f"Your order {f.order} is for {f.quantity} {f.product}. You paid {f.amount} on "
                f"{f.date}. It is being shipped to {f.city}. The item {f.issue}, and we will fix it.")
        return text, [f.order, f.quantity, f.product, f.amount, f.date, f.city]
    text = (f"Pack the {f.product} in its original box. Print the return label for order {f.order} "
            f"from your account. Drop the parcel at a post office in {f.city} within "
            f"{f.return_days}. Your refund of {f.amount} arrives in {f.refund_days}.")
    return text, [f.product, f.order, f.city, f.return_days, f.amount, f.refund_days]


def make_conversation(rng, split, idx):
    f = Facts(rng, split)
    system = (f"You are the support assistant of {f.store}. Returns are accepted within "
              f"{f.return_days}. Refunds take {f.refund_days}. Support is open from {f.hours[0]} "
              f"to {f.hours[1]}.")
    # Long answers need every order fact; short ones need at least the asked slot.
    is_long = rng.random() < 0.3
    staters = list(STATERS)
    rng.shuffle(staters)
    if not is_long:
        staters = staters[:rng.randint(4, len(staters))]
    # Name first when present reads naturally; otherwise the order is random.
    staters.sort(key=lambda s: 0 if s is state_name else 1)
    segments = []  # list of (user, assistant, slots)
    for s in staters:
        text, slots = s(rng, f)
        ack = ACKS[slots[0]](f) if rng.random() < 0.5 else rng.choice(GENERIC_ACKS)
        segments.append((text, ack, slots))
    for _ in range(rng.randint(1, 4)):
        user, ack = distractor(rng, f)
        segments.insert(rng.randint(1, len(segments)), (user, ack, []))
    stated = {slot for _, _, slots in segments for slot in slots}
    # A late correction: the answer must follow the newest value, not the first one.
    corrected = None
    if not is_long and rng.random() < 0.25:
        slot = rng.choice([s for s in ("city", "quantity") if s in stated] or [None])
        if slot:
            corrected = slot
            attr, pick, say, ack = CORRECTIONS[slot]
            value = pick(rng, f)
            setattr(f, attr, value)
            first = next(i for i, seg in enumerate(segments) if slot in seg[2])
            pos = rng.randint(first + 1, len(segments))
            segments.insert(pos, (say(value), ack(value), [slot]))

    turns = []
    slot_turn = {}
    for user, ack, slots in segments:
        for slot in slots:
            slot_turn[slot] = len(turns)
        turns.append({"role": "user", "content": user})
        turns.append({"role": "assistant", "content": ack})

    if is_long:
        kind = rng.choice(sorted(LONG_QUESTIONS))
        question = rng.choice(LONG_QUESTIONS[kind])
        answer, key_points = long_answer(kind, f)
        fact_turn = min(slot_turn.values())
        depends = True
        answer_type = "long"
    else:
        askable = sorted(s for s in SHORT_QUESTIONS if s in slot_turn or s.endswith("_days"))
        if "amount" in slot_turn and "quantity" in slot_turn and corrected != "quantity":
            askable.append("unit_price")
            # The price needs both facts; the earlier statement decides what a short history loses.
            slot_turn["unit_price"] = min(slot_turn["amount"], slot_turn["quantity"])
        # System-prompt questions stay rare so most answers need the history.
        weights = [0.15 if s.endswith("_days") else 2.0 if s == "unit_price" else 1.0 for s in askable]
        slot = rng.choices(askable, weights)[0]
        question = rng.choice(SHORT_QUESTIONS[slot])
        answer = getattr(f, slot)
        key_points = [answer]
        depends = slot in slot_turn
        fact_turn = slot_turn.get(slot, -1)
        answer_type = "short"
    return {"id": f"{split}-{idx:06d}", "system": system, "turns": turns, "question": question,
            "answer": answer, "key_points": key_points, "answer_type": answer_type,
            "depends_on_history": depends, "fact_turn": fact_turn}


CHUNK = 1000


def generate_chunk(split, seed, chunk, n):
    """Conversations chunk*CHUNK .. chunk*CHUNK+n-1 of the stream; chunks are independent so
    processes can generate them in parallel and any prefix of the stream is reproducible."""
    rng = random.Random(f"support-desk/{split}/{seed}/{chunk}")
    return [make_conversation(rng, split, chunk * CHUNK + i) for i in range(n)]


def generate(split, n, seed):
    rows = []
    for chunk in range((n + CHUNK - 1) // CHUNK):
        rows += generate_chunk(split, seed, chunk, min(CHUNK, n - chunk * CHUNK))
    return rows


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--split", choices=sorted(SPLIT_BUCKETS), required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True, help="output JSONL path ('-' for stdout)")
    a = p.parse_args(argv)
    rows = generate(a.split, a.n, a.seed)
    out = sys.stdout if a.out == "-" else open(a.out, "w", encoding="utf-8")
    with out:
        for r in rows:
            out.write(json.dumps(r, ensure_ascii=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
