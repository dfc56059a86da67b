"""Targets: a release becomes a folder of files (name -> bytes).

A target is the second extension point (sources are the first): anything with a
``name`` and a ``render(release, artifact)`` method. Most targets are a folder
of Jinja templates plus a function that turns a release into the templates'
variables; :class:`TemplateTarget` is that, made from a plug-in's
:class:`TargetSpec` (``watcher.targets`` holds the built-in ones). Pure: templates arrive through a
Jinja environment the caller built, and the result is data, validated strictly
before anything is committed. Output is normalised (no trailing spaces, one
final newline) so equal inputs give byte-identical files.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, MutableSet
from dataclasses import dataclass
from typing import Any, Protocol

import jinja2
import jinja2.sandbox
from jinja2.exceptions import SecurityError

from watcher.core.artifacts import ArtifactRef
from watcher.core.manifests import validate_folder
from watcher.core.names import describe
from watcher.core.release import Release
from watcher.core.yaml_text import YamlText, to_yaml
from watcher.errors import TemplateError

KUSTOMIZATION = "kustomization.yaml"
PROVENANCE = "promotion.json"

#: Turns a release (and its verified copy, if it has one) into template variables.
ContextBuilder = Callable[[Release, ArtifactRef | None], Mapping[str, Any]]

#: Every kind of copy a release may be served from: a bucket, a local folder, or none
#: (the pod reads the registry's ``models:/`` URI itself).
ANY_COPY = frozenset({"s3", "local", "none"})


@dataclass(frozen=True)
class RouteBackend:
    """Where a route in front of a target sends traffic: the Service named after the
    release plus ``suffix`` (the one the target's controller, or the target, creates)."""

    suffix: str
    port: int


@dataclass(frozen=True)
class TargetSpec:
    """What a target plug-in declares, so that the rest never names a target.

    A target is a template folder plus these answers: how its variables are made,
    how a route or a NetworkPolicy reaches its pods, which copies it can serve from,
    and which ``stages[].target_options`` it reads. ``watcher.targets`` registers the
    built-in ones; the core and the spine only ever read a spec.
    """

    #: The name a stage (``stages[].target``) or a source picks it by.
    name: str
    #: The template folder: ``templates/<folder>/*.j2``.
    folder: str
    #: Template variables of a release; gets this spec, so shared builders can ask it.
    context: Callable[[Release, ArtifactRef | None, TargetSpec], Mapping[str, Any]]
    #: The release kind it renders (``model`` for stages to pick; ``function`` …).
    renders: str = "model"
    #: None: nothing can be routed in front (``no_route`` says why and what to do).
    route_backend: RouteBackend | None = None
    no_route: str = "this target cannot have a route in front; set route.kind: none"
    #: Labels that select its pods, from the shared variables (for NetworkPolicies).
    pod_selector: Callable[[Mapping[str, Any]], Mapping[str, str]] | None = None
    #: Variables of its own, added under its name, from the shared ones and the options.
    extend: Callable[[Mapping[str, Any], Mapping[str, str]], Mapping[str, Any]] | None = None
    #: The copies it can serve from (``s3``, ``local``, ``none``); see ``ANY_COPY``.
    copies: frozenset[str] = ANY_COPY
    #: Keys it reads from ``stages[].target_options``; any other key is a config error.
    options: frozenset[str] = frozenset()

    def template_target(
        self,
        env: jinja2.Environment,
        kubernetes_version: str | None,
        known_valid: MutableSet[str] | None = None,
    ) -> TemplateTarget:
        """The renderer of this target over ``env``'s templates."""

        def context(release: Release, artifact: ArtifactRef | None) -> Mapping[str, Any]:
            return self.context(release, artifact, self)

        return TemplateTarget(self.name, env, self.folder, context, kubernetes_version, known_valid)


class Target(Protocol):
    """Renders one release into the files of its folder (without promotion.json)."""

    @property
    def name(self) -> str: ...

    def render(self, release: Release, artifact: ArtifactRef | None) -> dict[str, bytes]: ...


def _finalize(value: object) -> object:
    if isinstance(value, YamlText) or value is None or isinstance(value, bool | int):
        return value
    raise TemplateError(
        f"a template inserts the value {describe(str(value), 60)} without the yaml filter",
        hint="write {{ value | yaml }} so the value is quoted and escaped",
    )


def make_environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    """A sandboxed, strict Jinja environment: undefined names and unquoted values are errors.

    The sandbox keeps user templates from reaching Python internals, files or the
    environment; ``finalize`` keeps them from splicing raw text into YAML.
    """
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["yaml"] = to_yaml
    return env


class TemplateTarget:
    """Every ``<folder>/*.j2`` template of an environment, rendered with one context.

    ``kustomization.yaml.j2`` is rendered last, with ``resources`` set to the YAML
    files the others produced; a template that renders empty drops its file, so
    users can switch a built-in file off from their own template folder.
    """

    def __init__(
        self,
        name: str,
        env: jinja2.Environment,
        folder: str,
        context: ContextBuilder,
        kubernetes_version: str | None = "1.33",
        known_valid: MutableSet[str] | None = None,
    ) -> None:
        self._name = name
        #: Digests of files that passed validation (shared, and kept across runs by wiring).
        self._known_valid = known_valid
        self._env = env
        self._folder = folder
        self._context = context
        self._kubernetes_version = kubernetes_version
        #: Rendered and validated folders by the hash of everything that went in.
        self._cache: OrderedDict[str, tuple[dict[str, bytes], tuple[Any, ...]]] = OrderedDict()
        #: The folder's template names while a batch of renders runs (see ``batch``).
        self._names: list[str] | None = None
        #: Those templates as loaded at the start of the batch (None: load per render).
        self._templates: tuple[Any, ...] | None = None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """List and load the template folder once for many renders (one reconcile).

        Jinja checks every template's file for changes on each ``get_template``;
        within one reconcile once is enough (an edit is seen by the next one).
        """
        self._names = self._list_names()
        try:
            self._templates = tuple(self._env.get_template(name) for name in self._names)
        except jinja2.TemplateError:
            self._templates = None  # each render reports the broken template itself
        try:
            yield
        finally:
            self._names = None
            self._templates = None

    def _list_names(self) -> list[str]:
        prefix = f"{self._folder}/"
        return sorted(
            name
            for name in self._env.list_templates(extensions=["j2"])
            if name.startswith(prefix) and name.count("/") == 1
        )

    @property
    def name(self) -> str:
        return self._name

    def render(self, release: Release, artifact: ArtifactRef | None) -> dict[str, bytes]:
        """The folder's files, validated; served from the cache while no input changed.

        The key hashes the release, its verified copy and every template of the
        folder as Jinja has it loaded now (Jinja reloads a template whose file
        changed, which makes a new object and so a new key). Only successful
        renders are kept; a release whose inputs cannot be fingerprinted is
        rendered every time.
        """
        names, templates, key = self._keyed(release, artifact)
        if key is not None:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return dict(hit[0])
        files = self._render(release, artifact, names)
        if key is not None:
            # The templates stay referenced beside the entry, so their ids in the key
            # cannot be reused by other template objects while the entry lives.
            self._cache[key] = (dict(files), templates)
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return files

    def cache_key(self, release: Release, artifact: ArtifactRef | None) -> str | None:
        """The hash ``render`` caches this release's folder under (None: not cacheable).

        Equal keys mean equal output of this target, so a caller may keep what it
        derives from the output (the marker, blob ids) under the same key.
        """
        return self._keyed(release, artifact)[2]

    def _keyed(
        self, release: Release, artifact: ArtifactRef | None
    ) -> tuple[list[str], tuple[Any, ...], str | None]:
        names = self._names if self._names is not None else self._list_names()
        if not names:
            return names, (), None
        try:
            templates = self._templates
            if templates is None or self._names is None:
                templates = tuple(self._env.get_template(name) for name in names)
            return names, templates, _input_key(release, artifact, names, templates)
        except (_Unkeyable, jinja2.TemplateError):
            return names, (), None

    def _render(
        self, release: Release, artifact: ArtifactRef | None, names: list[str]
    ) -> dict[str, bytes]:
        context = dict(self._context(release, artifact))
        prefix = f"{self._folder}/"
        if not names:
            raise TemplateError(
                f"target {self._name!r} has no templates in {self._folder}/",
                hint="check render.templates_dir: a target needs at least one *.yaml.j2 file",
            )
        files: dict[str, bytes] = {}
        kustomization: str | None = None
        for name in names:
            output = name[len(prefix) : -len(".j2")]
            if output == KUSTOMIZATION:
                kustomization = name
                continue
            if output == PROVENANCE:
                raise TemplateError(
                    f"template {name} would overwrite {PROVENANCE}, which the daemon owns"
                )
            text = render_template(self._env, name, context)
            if text:
                files[output] = text.encode()
        if kustomization is not None:
            resources = sorted(f for f in files if f.endswith((".yaml", ".yml")))
            text = render_template(self._env, kustomization, {**context, "resources": resources})
            if text:
                files[KUSTOMIZATION] = text.encode()
        if self._kubernetes_version:
            validate_folder(files, self._kubernetes_version, self._known_valid)
        return files


#: Rendered folders one target keeps (a few KB each): more than any registry we measured.
CACHE_ENTRIES = 50_000


class _Unkeyable(Exception):
    """An input without a faithful text form: render it every time."""


def _input_key(
    release: Release, artifact: ArtifactRef | None, names: list[str], templates: tuple[Any, ...]
) -> str:
    """A hash of everything that goes into a folder: the release (its fingerprint),
    the verified copy, and the templates as loaded (an edited template is a new
    object). Anything shown only by its address is never keyed."""
    copy = repr(artifact)
    if not release.fingerprint or " at 0x" in copy:
        raise _Unkeyable(release.id.describe())
    loaded = tuple((name, id(template)) for name, template in zip(names, templates, strict=True))
    return hashlib.sha256(f"{release.fingerprint}{copy}{loaded!r}".encode()).hexdigest()


def render_template(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    """One template's normalised output; every Jinja failure becomes a TemplateError."""
    try:
        text = env.get_template(name).render(context)
    except TemplateError as exc:
        raise TemplateError(f"template {name}: {exc}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {name}, line {exc.lineno}: {exc.message}") from exc
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"template {name}: {exc.message}", hint="see docs/templates.md for the variables"
        ) from exc
    except SecurityError as exc:
        raise TemplateError(f"template {name} tried something the sandbox forbids: {exc}") from exc
    except (jinja2.TemplateError, TypeError, ValueError, RecursionError) as exc:
        raise TemplateError(f"template {name}: {describe(str(exc), 200)}") from exc
    lines = [line.rstrip() for line in text.splitlines()]
    normalised = "\n".join(lines).strip("\n")
    return f"{normalised}\n" if normalised else ""
