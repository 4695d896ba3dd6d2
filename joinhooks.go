package tokensource

import (
	"context"
	"reflect"
	"slices"
	"time"
)

// JoinHooks returns Hooks that call each of hs in turn, so that a Source
// can report to several observers (OpenTelemetry and a log of its own, say)
// through its one [Options.Hooks]. Nil elements are skipped; JoinHooks
// returns nil when none is left, and the only one when one is. A field of
// the result is nil when that field is nil in every element, so that an
// unused hook still costs nothing.
//
// RefreshStart hooks are chained: each gets the context the one before it
// returned (or its own ctx, when that one returned nil), and the last
// context is the refresh's. A hook that panics does not stop the ones after
// it: once every one has run, the first panic goes on to the Source, which
// recovers and logs it. The elements are read once, when JoinHooks is
// called: later changes to them are not seen.
func JoinHooks(hs ...*Hooks) *Hooks {
	hs = slices.DeleteFunc(slices.Clone(hs), func(h *Hooks) bool { return h == nil })
	switch len(hs) {
	case 0:
		return nil
	case 1:
		return hs[0]
	}
	j := &Hooks{}
	j.RefreshStart = join(hs, func(h *Hooks) func(context.Context, RefreshStartInfo) context.Context { return h.RefreshStart },
		func(fs []func(context.Context, RefreshStartInfo) context.Context) func(context.Context, RefreshStartInfo) context.Context {
			return func(ctx context.Context, info RefreshStartInfo) context.Context {
				each(fs, func(f func(context.Context, RefreshStartInfo) context.Context) {
					if c := f(ctx, info); c != nil {
						ctx = c
					}
				})
				return ctx
			}
		})
	j.StoreLoaded = join(hs, func(h *Hooks) func(context.Context, StoreLoadedInfo) { return h.StoreLoaded }, call2[StoreLoadedInfo])
	j.LockAcquired = join(hs, func(h *Hooks) func(context.Context, time.Duration) { return h.LockAcquired }, call2[time.Duration])
	j.TokenRequest = join(hs, func(h *Hooks) func(context.Context) { return h.TokenRequest },
		func(fs []func(context.Context)) func(context.Context) {
			return func(ctx context.Context) { each(fs, func(f func(context.Context)) { f(ctx) }) }
		})
	j.Saved = join(hs, func(h *Hooks) func(context.Context, SavedInfo) { return h.Saved }, call2[SavedInfo])
	j.RefreshDone = join(hs, func(h *Hooks) func(context.Context, RefreshDoneInfo) { return h.RefreshDone }, call2[RefreshDoneInfo])
	j.Invalidated = join(hs, func(h *Hooks) func(context.Context, InvalidatedInfo) { return h.Invalidated }, call2[InvalidatedInfo])
	j.TakeOver = join(hs, func(h *Hooks) func(context.Context, TakeOverInfo) { return h.TakeOver }, call2[TakeOverInfo])
	j.Unauthorized = join(hs, func(h *Hooks) func(context.Context, UnauthorizedInfo) { return h.Unauthorized }, call2[UnauthorizedInfo])
	return j
}

// join gathers the non-nil field of each of hs, picked by field, and
// returns nil if there is none, the field itself if there is one, and
// combine of them otherwise.
func join[F any](hs []*Hooks, field func(*Hooks) F, combine func([]F) F) F {
	var fs []F
	for _, h := range hs {
		if f := field(h); !isNil(f) {
			fs = append(fs, f)
		}
	}
	switch len(fs) {
	case 0:
		var none F
		return none
	case 1:
		return fs[0]
	}
	return combine(fs)
}

// isNil reports whether f, a func value, is nil.
func isNil[F any](f F) bool {
	return reflect.ValueOf(&f).Elem().IsNil()
}

// call2 combines hooks that take a context and an info.
func call2[I any](fs []func(context.Context, I)) func(context.Context, I) {
	return func(ctx context.Context, info I) {
		each(fs, func(f func(context.Context, I)) { f(ctx, info) })
	}
}

// each calls call with every element of fs, and then panics again with the
// first panic any call raised, if one did.
func each[F any](fs []F, call func(F)) {
	var (
		panicked bool
		first    any
	)
	for _, f := range fs {
		func() {
			defer func() {
				if r := recover(); r != nil && !panicked {
					panicked, first = true, r
				}
			}()
			call(f)
		}()
	}
	if panicked {
		panic(first)
	}
}
