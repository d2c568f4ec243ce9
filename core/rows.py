"""Single-row reads and inserts for the decision path, with statements built once.

The ORM compiles every query anew: about 0.3 ms of Python per statement, which across a decision's
handful of statements was a quarter of its CPU. These helpers build each statement once per model
and database and convert values with the fields' own methods (get_db_prep_save, the database's
converters), so what goes in and comes out is exactly what the ORM would write and read. Use them
only where that cost matters; everything else goes through the ORM.
"""

from django.db import connection
from django.db.models.signals import post_save, pre_save

_statements = {}  # (purpose, model, column, database vendor) -> what that statement needs


def get_by(model, column, value):
    """The instance whose unique `column` equals `value`, as Model.objects.get would load it, or
    None when there is none."""
    key = ("get", model, column, connection.vendor)
    statement = _statements.get(key)
    if statement is None:
        statement = _statements[key] = _select_statement(model, column)
    sql, attnames, converters = statement
    with connection.cursor() as cursor:
        cursor.execute(sql, [value])
        values = cursor.fetchone()
    if values is None:
        return None
    values = list(values)
    for index, expression, functions in converters:
        for convert in functions:
            values[index] = convert(values[index], expression, connection)
    return model.from_db(connection.alias, attnames, values)


def insert(instance):
    """Save a new instance as Model.save would (defaults, auto_now_add, pre/post_save signals when
    something listens) with one prepared INSERT … RETURNING its primary key."""
    model = type(instance)
    key = ("insert", model, None, connection.vendor)
    statement = _statements.get(key)
    if statement is None:
        statement = _statements[key] = _insert_statement(model)
    sql, fields = statement
    if pre_save.has_listeners(model):
        pre_save.send(sender=model, instance=instance, raw=False, using=connection.alias, update_fields=None)
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    if post_save.has_listeners(model):
        post_save.send(
            sender=model,
            instance=instance,
            created=True,
            raw=False,
            using=connection.alias,
            update_fields=None,
        )
    return instance


def _select_statement(model, column):
    meta, quote = model._meta, connection.ops.quote_name
    fields = meta.concrete_fields
    columns = ", ".join(quote(field.column) for field in fields)
    sql = f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(column)} = %s"  # noqa: S608 - names from the model
    converters = []
    for index, field in enumerate(fields):
        expression = field.get_col(meta.db_table)
        functions = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        if functions:
            converters.append((index, expression, functions))
    return sql, [field.attname for field in fields], converters


def _insert_statement(model):
    meta, quote = model._meta, connection.ops.quote_name
    assert meta.pk.db_returning, "insert() is for models whose database numbers their rows"
    fields = [field for field in meta.local_concrete_fields if not field.db_returning]
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608 - names from the model
        f"RETURNING {quote(meta.pk.column)}"
    )
    return sql, fields
