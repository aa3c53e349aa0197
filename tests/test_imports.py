"""The library's import graph, read from the files (ast): no module imports, directly or
through others, a module that imports it back. A circle makes a module's meaning depend on
which one is imported first, and was each time the sign of a piece living in the wrong
file (the errors in the validator; the data sources in the readers)."""
import ast

from conftest import REPO

LIB = REPO / 'ffjax'


def _modules():
  mods = {}
  for p in LIB.rglob('*.py'):
    name = '.'.join(p.relative_to(REPO).with_suffix('').parts)
    mods[name.removesuffix('.__init__')] = p
  return mods


def import_graph() -> dict:
  """{module: {modules of ffjax it imports}}, function-level imports included (a lazy
  import is an arrow too: it runs the other module, with all its imports); those under
  `if TYPE_CHECKING:` are not (they never run)."""
  mods = _modules()

  def resolve(name):
    while name and name not in mods:
      name = name.rpartition('.')[0]
    return name or None

  graph = {m: set() for m in mods}
  for m, p in mods.items():
    tree = ast.parse(p.read_text())
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and
                   ast.unparse(node.test) in ('TYPE_CHECKING', 'typing.TYPE_CHECKING')
                   for stmt in node.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
      if id(node) in typing_only:  # never run: an annotation's name, not an arrow
        continue
      if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        targets = [node.module] + [f'{node.module}.{a.name}' for a in node.names]
      else:
        continue
      for t in targets:
        r = resolve(t) if t.startswith('ffjax') else None
        if r and r != m and r != 'ffjax':
          graph[m].add(r)
  return graph


def circles(graph) -> list:
  """The strongly connected components of more than one module (Tarjan)."""
  index, low, stack, on, out = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in sorted(graph[v]):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      comp = []
      while True:
        w = stack.pop()
        on.discard(w)
        comp.append(w)
        if w == v:
          break
      if len(comp) > 1:
        out.append(sorted(comp))

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return out


def test_the_finder_finds_a_circle():
  assert circles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]
  assert circles({'a': {'b'}, 'b': set()}) == []


def test_no_import_circles_in_the_library():
  graph = import_graph()
  assert len(graph) > 40 and graph['ffjax.train'], 'the graph was not read'
  assert circles(graph) == []


def test_the_errors_module_is_a_leaf():
  # Every piece raises ConfigError / DataError: the module they live in imports nothing of ffjax.
  assert import_graph()['ffjax.errors'] == set()
