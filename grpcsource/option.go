package grpcsource

// An Option configures an interceptor of this package. None is defined
// yet: the interceptors take options so that adding one later does not
// change their signatures. A nil Option is ignored.
type Option interface {
	apply(*config)
}

// config is what the options of an interceptor set.
type config struct{}

// newConfig applies opts, skipping nil ones.
func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}
