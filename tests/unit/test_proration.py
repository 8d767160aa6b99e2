"""Proration properties: lines sum to totals, each line within half a unit of exact, and a
change reversed in the same second nets to zero."""

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from portal_app.clock import add_months
from portal_app.services import proration

START = datetime(2026, 1, 1, tzinfo=UTC)
amounts = st.integers(min_value=0, max_value=10**9)
seconds_into_month = st.integers(min_value=0, max_value=31 * 24 * 3600)


def _period(old, new, at, start, end, names=("Old", "New")):
    """The keyword arguments both kinds of change take: amounts, names, the period and `at`."""
    return dict(
        old_amount=old,
        new_amount=new,
        old_name=names[0],
        new_name=names[1],
        period_start=start,
        period_end=end,
        at=at,
    )


def _change(old, new, at, start=START, end=None):
    return proration.same_period_change(**_period(old, new, at, start, end or add_months(start, 1)))


def test_stripe_example_halfway_upgrade():
    start = START
    end = start + timedelta(days=30)
    lines = _change(1000, 2000, start + timedelta(days=15), start, end)
    assert [line.amount for line in lines] == [-500, 1000]
    assert sum(line.amount for line in lines) == 500


def test_change_at_period_start_and_end():
    end = add_months(START, 1)
    assert [line.amount for line in _change(1000, 2000, START)] == [-1000, 2000]
    assert [line.amount for line in _change(1000, 2000, end)] == [0, 0]
    # A clock past the period end never produces a negative fraction.
    assert [line.amount for line in _change(1000, 2000, end + timedelta(days=3))] == [0, 0]


@given(amounts, amounts, seconds_into_month)
def test_each_line_is_within_half_a_unit_of_exact(old, new, offset):
    at = START + timedelta(seconds=offset)
    end = add_months(START, 1)
    fraction = proration.unused_fraction(START, end, at)
    credit, debit = _change(old, new, at)
    assert type(credit.amount) is int and type(debit.amount) is int
    assert abs(-credit.amount - old * fraction) <= Fraction(1, 2)
    assert abs(debit.amount - new * fraction) <= Fraction(1, 2)


@given(amounts, amounts, seconds_into_month)
def test_upgrade_then_immediate_downgrade_nets_to_zero(old, new, offset):
    at = START + timedelta(seconds=offset)
    there = _change(old, new, at)
    back = _change(new, old, at)
    assert sum(line.amount for line in there + back) == 0


@given(amounts, amounts, st.integers(min_value=0, max_value=365 * 24 * 3600))
def test_interval_reset_lines_sum_and_charge_the_full_new_price(old, new, offset):
    start = START
    end = add_months(start, 12)
    at = start + timedelta(seconds=offset)
    lines = proration.interval_reset_change(
        **_period(old, new, at, start, end, names=("Annual", "Monthly")),
        new_period_end=add_months(at, 1),
    )
    assert lines[1].amount == new
    assert -lines[0].amount <= old
    assert sum(line.amount for line in lines) == lines[0].amount + lines[1].amount


def test_fraction_is_to_the_second():
    end = START + timedelta(seconds=3)
    assert proration.unused_fraction(START, end, START + timedelta(seconds=1)) == Fraction(2, 3)
    assert proration.prorate(100, Fraction(2, 3)) == 67


def test_no_float_in_money_paths():
    """A static check: no float literal or float() call in the money-handling modules."""
    import ast
    import inspect

    from portal_app import money
    from portal_app.services import billing_clock, invoices, plan_changes, subscriptions

    for module in (money, proration, invoices, subscriptions, plan_changes, billing_clock):
        tree = ast.parse(inspect.getsource(module))
        for node in ast.walk(tree):
            assert not (isinstance(node, ast.Constant) and isinstance(node.value, float)), (
                f"float literal in {module.__name__}"
            )
            assert not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "float"
            ), f"float() in {module.__name__}"
            assert not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)), (
                f"true division in {module.__name__}: use Fraction"
            )
